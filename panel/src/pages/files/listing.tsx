import { api } from "../../api";
import { Link } from "../../router";
import type { FileEntry } from "../../types";
import { When } from "../../ui";
import type { FileAction } from "./actions";
import { formatBytes, formatMode, isArchive, joinPath, modeLetters } from "./paths";

/** Largest file the editor opens (bytes): the API's MAX_TEXT_BYTES (proto/src/files.ts), not imported so zod stays out of the bundle. */
const EDITABLE_BYTES = 2 * 1024 * 1024;

/** A sortable column of the listing and the API's `sort` value for it. */
export type SortKey = "name" | "size" | "mtime";

/** The listing's sort order. */
export interface Sorting {
  sort: SortKey;
  order: "asc" | "desc";
}

function SortHeader({ label, column, sorting, onSort }: { label: string; column: SortKey; sorting: Sorting; onSort(next: Sorting): void }) {
  const active = sorting.sort === column;
  const next: Sorting = { sort: column, order: active && sorting.order === "asc" ? "desc" : "asc" };
  return (
    <th aria-sort={active ? (sorting.order === "asc" ? "ascending" : "descending") : undefined}>
      <button type="button" className="sort" onClick={() => onSort(next)}>
        {label}<span aria-hidden="true">{active ? (sorting.order === "asc" ? " ▲" : " ▼") : ""}</span>
      </button>
    </th>
  );
}

/** Where a click on an entry's name goes: into a folder, or the editor for a file small enough; nowhere for the rest. */
function NameCell({ entry, path, folderHref, editHref }: { entry: FileEntry; path: string; folderHref(path: string): string; editHref(path: string): string }) {
  if (entry.type === "directory") return <Link to={folderHref(path)} className="file-name file-dir">{entry.name}/</Link>;
  if (entry.type === "file" && entry.size <= EDITABLE_BYTES) return <Link to={editHref(path)} className="file-name" title="Open in the editor">{entry.name}</Link>;
  return <span className="file-name">{entry.name}{entry.type === "symlink" ? <span className="muted"> (link)</span> : entry.type === "other" ? <span className="muted"> (special)</span> : null}</span>;
}

/**
 * One page of a folder: selectable rows, name/size/modified headers that sort on the server,
 * and each entry's actions (edit, download, rename, copy, permissions, extract, delete).
 * `selected` holds the names of the checked rows.
 */
export function FileTable({ podId, dir, entries, sorting, onSort, selected, onSelect, folderHref, editHref, onAction, onDelete }: {
  podId: string; dir: string; entries: FileEntry[]; sorting: Sorting; onSort(next: Sorting): void;
  selected: ReadonlySet<string>; onSelect(names: string[], on: boolean): void;
  folderHref(path: string): string; editHref(path: string): string; onAction(action: FileAction): void; onDelete(entry: FileEntry): void;
}) {
  const all = entries.length > 0 && entries.every((e) => selected.has(e.name));
  return (
    <div className="table-wrap">
      <table className="files">
        <thead>
          <tr>
            <th><input type="checkbox" aria-label="Select all on this page" checked={all} onChange={(e) => onSelect(entries.map((x) => x.name), e.target.checked)} /></th>
            <SortHeader label="Name" column="name" sorting={sorting} onSort={onSort} />
            <SortHeader label="Size" column="size" sorting={sorting} onSort={onSort} />
            <SortHeader label="Modified" column="mtime" sorting={sorting} onSort={onSort} />
            <th>Permissions</th>
            <th><span className="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => {
            const path = joinPath(dir, entry.name);
            const act = (kind: "rename" | "copy" | "chmod" | "extract") => () => onAction({ kind, path, entry });
            return (
              <tr key={entry.name} data-file={entry.name} data-type={entry.type}>
                <td><input type="checkbox" aria-label={`Select ${entry.name}`} checked={selected.has(entry.name)} onChange={(e) => onSelect([entry.name], e.target.checked)} /></td>
                <td><NameCell entry={entry} path={path} folderHref={folderHref} editHref={editHref} /></td>
                <td className="num">{entry.type === "directory" ? <span className="muted">—</span> : formatBytes(entry.size)}</td>
                <td><When at={entry.mtime} /></td>
                <td><code title={modeLetters(entry.mode)}>{formatMode(entry.mode)}</code></td>
                <td className="row-actions">
                  {entry.type === "file" && <a href={api.downloadUrl(podId, path)} download={entry.name} aria-label={`Download ${entry.name}`}>Download</a>}
                  {entry.type === "file" && isArchive(entry.name) && <button type="button" onClick={act("extract")} aria-label={`Extract ${entry.name}`}>Extract</button>}
                  <button type="button" onClick={act("rename")} aria-label={`Rename ${entry.name}`}>Rename</button>
                  {entry.type !== "symlink" && entry.type !== "other" && <button type="button" onClick={act("copy")} aria-label={`Copy ${entry.name}`}>Copy</button>}
                  {(entry.type === "file" || entry.type === "directory") && <button type="button" onClick={act("chmod")} aria-label={`Permissions of ${entry.name}`}>Permissions</button>}
                  <button type="button" className="danger-quiet" onClick={() => onDelete(entry)} aria-label={`Delete ${entry.name}`}>Delete</button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
