import type { FileRef } from "../../protocol/messages.ts";
import { withBase } from "../lib/config.ts";

/** Where a file's bytes are served. */
export function fileUrl(file: FileRef): string {
  return withBase(`/files/${encodeURIComponent(file.id)}/${encodeURIComponent(file.name)}`);
}

const PREVIEWABLE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let n = bytes / 1024;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[unit]}`;
}

/** An attached file: images as a preview linking to the file, others as a download chip. */
export function FileView({ file }: { file: FileRef }) {
  const url = fileUrl(file);
  if (PREVIEWABLE.has(file.type) && file.width && file.height) {
    return (
      <a
        class="file-image"
        data-testid="file-image"
        href={url}
        target="_blank"
        rel="noopener noreferrer"
      >
        <img
          src={url}
          width={file.width}
          height={file.height}
          loading="lazy"
          decoding="async"
          alt={file.name}
        />
      </a>
    );
  }
  return (
    <a class="file-chip" data-testid="file-chip" href={url} download={file.name}>
      <span class="file-chip-icon" aria-hidden="true">📄</span>
      <bdi class="file-chip-name">{file.name}</bdi>
      <span class="file-chip-size">{formatSize(file.size)}</span>
    </a>
  );
}
