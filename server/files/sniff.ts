/**
 * A file's type, decided from its first bytes: never from the name or the client's
 * Content-Type. Markup (HTML, SVG, XML) is text like any other and is only ever served as
 * `text/plain`, so an upload can never run script on this origin. Raster images also
 * give their width and height from the header.
 */

export interface Sniffed {
  /** The media type the file is served with. */
  type: string;
  width?: number;
  height?: number;
}

/** How many leading bytes `sniff` wants: enough for a JPEG's EXIF before its frame header. */
export const SNIFF_BYTES = 64 * 1024;

export const OCTET_STREAM = "application/octet-stream";
export const TEXT_PLAIN = "text/plain";

/** The types shown inline (as images) rather than downloaded. */
export const INLINE_TYPES: ReadonlySet<string> = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
]);

/**
 * The type of a file that starts with `head`. `complete` says `head` is the whole file
 * (otherwise a multi-byte character cut at its end still counts as text).
 */
export function sniff(head: Uint8Array, complete = false): Sniffed {
  const b = head;
  if (starts(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    return withSize("image/png", png(b));
  }
  if (starts(b, [0xff, 0xd8, 0xff])) return withSize("image/jpeg", jpeg(b));
  if (ascii(b, 0, "GIF87a") || ascii(b, 0, "GIF89a")) return withSize("image/gif", gif(b));
  if (ascii(b, 0, "RIFF") && ascii(b, 8, "WEBP")) return withSize("image/webp", webp(b));
  if (ascii(b, 0, "RIFF") && ascii(b, 8, "WAVE")) return { type: "audio/wav" };
  if (ascii(b, 0, "%PDF-")) return { type: "application/pdf" };
  if (starts(b, [0x50, 0x4b, 0x03, 0x04]) || starts(b, [0x50, 0x4b, 0x05, 0x06])) {
    return { type: "application/zip" };
  }
  if (ascii(b, 4, "ftyp")) return { type: "video/mp4" };
  if (starts(b, [0x1a, 0x45, 0xdf, 0xa3])) return { type: "video/webm" };
  if (ascii(b, 0, "OggS")) return { type: "audio/ogg" };
  if (ascii(b, 0, "ID3") || (b[0] === 0xff && (b[1] === 0xfb || b[1] === 0xf3 || b[1] === 0xf2))) {
    return { type: "audio/mpeg" };
  }
  if (b.length > 0 && isText(b, complete)) return { type: TEXT_PLAIN };
  return { type: OCTET_STREAM };
}

/** Valid UTF-8 without NULs: plain text (markup included, which is never served as such). */
function isText(b: Uint8Array, complete: boolean): boolean {
  if (b.includes(0)) return false;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(b, { stream: !complete });
    return true;
  } catch {
    return false;
  }
}

type Size = { width: number; height: number } | null;

function withSize(type: string, size: Size): Sniffed {
  return size && size.width > 0 && size.height > 0 ? { type, ...size } : { type };
}

function png(b: Uint8Array): Size {
  // Signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
  if (b.length < 24 || !ascii(b, 12, "IHDR")) return null;
  return { width: u32be(b, 16), height: u32be(b, 20) };
}

function gif(b: Uint8Array): Size {
  if (b.length < 10) return null;
  return { width: b[6]! | (b[7]! << 8), height: b[8]! | (b[9]! << 8) };
}

function jpeg(b: Uint8Array): Size {
  // Walk the marker segments to the first start-of-frame (SOF0-SOF15 but DHT, JPG, DAC).
  let i = 2;
  while (i + 3 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2; // no length
      continue;
    }
    const length = (b[i + 2]! << 8) | b[i + 3]!;
    if (length < 2) return null;
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
      marker !== 0xcc;
    if (sof) {
      if (i + 9 > b.length) return null;
      return { height: (b[i + 5]! << 8) | b[i + 6]!, width: (b[i + 7]! << 8) | b[i + 8]! };
    }
    if (marker === 0xda || marker === 0xd9) return null; // scan data before any frame header
    i += 2 + length;
  }
  return null;
}

function webp(b: Uint8Array): Size {
  if (ascii(b, 12, "VP8 ") && b.length >= 30) {
    // Lossy: after the frame tag and the start code 9d 01 2a, 14-bit width and height.
    if (!starts(b.subarray(23), [0x9d, 0x01, 0x2a])) return null;
    return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  }
  if (ascii(b, 12, "VP8L") && b.length >= 25) {
    // Lossless: signature 0x2f, then 14 bits of width - 1 and 14 of height - 1.
    if (b[20] !== 0x2f) return null;
    const bits = b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (ascii(b, 12, "VP8X") && b.length >= 30) {
    // Extended: 24-bit canvas width - 1 and height - 1.
    return { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
  }
  return null;
}

function starts(b: Uint8Array, prefix: number[]): boolean {
  return b.length >= prefix.length && prefix.every((byte, i) => b[i] === byte);
}

function ascii(b: Uint8Array, at: number, text: string): boolean {
  if (b.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

function u32be(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

function u16le(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

function u24le(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
}
