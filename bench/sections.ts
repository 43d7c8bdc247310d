/**
 * RESULTS.md is one file with a section per kind of run; each run rewrites its own and a
 * run that leaves one out keeps it. A section runs from its heading to the next "## ".
 */

/** The section under `heading` in `markdown`, if it has one. */
export function sectionOf(markdown: string, heading: string): string | null {
  const at = markdown.indexOf(heading + "\n");
  if (at < 0) return null;
  const next = markdown.indexOf("\n## ", at + heading.length);
  return markdown.slice(at, next < 0 ? undefined : next + 1).trimEnd() + "\n";
}

/** Put `section` into the markdown file at `path`, replacing the one under `heading`. */
export async function writeSection(path: string, heading: string, section: string): Promise<void> {
  let markdown = "";
  try {
    markdown = await Deno.readTextFile(path);
  } catch {
    markdown = "# Parley benchmark: latest run\n";
  }
  const old = sectionOf(markdown, heading);
  const next = old ? markdown.replace(old, () => section) : markdown.trimEnd() + "\n\n" + section;
  await Deno.writeTextFile(path, next);
}
