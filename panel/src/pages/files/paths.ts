/**
 * Paths of the file manager: relative to the CloudPod's root, "/"-separated, "" for the root
 * (the API's form). The node's door is what keeps them inside the root; these only compose them.
 */

/** `dir` and `name` joined ("" + "a" is "a"). */
export function joinPath(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

/** The directory holding `path` ("" for an entry of the root). */
export function parentOf(path: string): string {
  const at = path.lastIndexOf("/");
  return at < 0 ? "" : path.slice(0, at);
}

/** The last part of `path`. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Each ancestor of `path` with its name, root first: `a/b` gives `[{a, "a"}, {b, "a/b"}]` (the root is left to the caller). */
export function crumbsOf(path: string): Array<{ name: string; path: string }> {
  const parts = path.split("/").filter(Boolean);
  return parts.map((name, i) => ({ name, path: parts.slice(0, i + 1).join("/") }));
}

/** Bytes in binary units ("1.5 MiB"); whole bytes below 1 KiB. */
export function formatBytes(bytes: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Permission bits as four octal digits ("0644"). */
export function formatMode(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}

/** Permission bits as `ls` shows them for the owner, group and others ("rw-r--r--"). */
export function modeLetters(mode: number): string {
  return [6, 3, 0].map((shift) => {
    const bits = (mode >> shift) & 7;
    return `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${bits & 1 ? "x" : "-"}`;
  }).join("");
}

/**
 * Parses octal permission input ("644", "0755"): the bits, or the reason it is refused.
 * Accepts 3 or 4 octal digits; the API takes 0-0o777, so setuid, setgid and sticky bits are refused.
 */
export function parseMode(text: string): { mode: number } | { error: string } {
  const value = text.trim();
  if (!/^[0-7]{3,4}$/.test(value)) return { error: "use 3 or 4 octal digits (0-7), e.g. 644 or 0755" };
  const mode = Number.parseInt(value, 8);
  if (mode > 0o777) return { error: "setuid, setgid and sticky bits cannot be set: at most 0777" };
  return { mode };
}

/** Names the archive jobs can unpack. */
export function isArchive(name: string): boolean {
  return /\.(zip|tar\.gz|tgz)$/i.test(name);
}
