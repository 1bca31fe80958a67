import { useEffect, useId, useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { Link } from "../router";
import { useArea } from "../session";
import type { FileEntry } from "../types";
import { Badge, Empty, NotFound, PageHeader, Pager, useConfirm, useToast } from "../ui";
import { ActionPanel, type FileAction } from "./files/actions";
import { JobProgress, type FileJob } from "./files/job-progress";
import { FileTable, type Sorting } from "./files/listing";
import { crumbsOf, formatBytes, joinPath } from "./files/paths";
import { UploadPanel } from "./files/upload-panel";
import { useUrlQuery } from "./url-query";

export { FileEditorPage } from "./files/editor";

/** Entries per page: the API pages and sorts on the node, so a folder of 100,000 entries costs the page, not the folder. */
const PAGE_SIZE = 100;

/** Free and total space of the CloudPod's file system; `generation` changes reload it. */
function SpaceMeter({ podId, generation }: { podId: string; generation: number }) {
  const space = useResource(() => api.fileSpace(podId), `${podId}:${generation}`);
  if (space.error) return <p className="bad" role="alert">Free space unknown: {space.error}</p>;
  if (!space.data) return <p className="muted space" aria-busy="true">Checking free space…</p>;
  const { freeBytes, totalBytes } = space.data;
  return (
    <p className="space" data-space-free={freeBytes}>
      <meter min={0} max={totalBytes} value={totalBytes - freeBytes} aria-label="Disk used" />{" "}
      <strong>{formatBytes(freeBytes)}</strong> free of {formatBytes(totalBytes)}
    </p>
  );
}

/** The folder's path as links, the CloudPod's root first; the folder on screen is marked current. */
function Breadcrumbs({ dir, rootName, href }: { dir: string; rootName: string; href(path: string): string }) {
  const crumbs = [{ name: rootName, path: "" }, ...crumbsOf(dir)];
  return (
    <nav aria-label="Folder path" className="breadcrumbs">
      <ol>
        {crumbs.map((c, i) => (
          <li key={c.path}>
            {i === crumbs.length - 1 ? <span aria-current="location">{c.name}</span> : <Link to={href(c.path)}>{c.name}</Link>}
          </li>
        ))}
      </ol>
    </nav>
  );
}

/** "Go to page" for long folders (more than two pages); out-of-range numbers are clamped. */
function PageJump({ pages, onPage }: { pages: number; onPage(page: number): void }) {
  const [text, setText] = useState("");
  const id = useId();
  if (pages <= 2) return null;
  return (
    <form className="page-jump" onSubmit={(e) => {
      e.preventDefault();
      const page = Math.trunc(Number(text));
      if (Number.isFinite(page) && text.trim()) onPage(Math.min(pages, Math.max(1, page)));
    }}>
      <label htmlFor={id}>Go to page</label>
      <input id={id} type="number" min={1} max={pages} inputMode="numeric" value={text} onChange={(e) => setText(e.target.value)} />
      <button type="submit">Go</button>
    </form>
  );
}

/**
 * A CloudPod's file manager (`/cloudpods/:id/files?path=&page=&sort=&order=`, the URL is the
 * state: Back and Forward walk folders): breadcrumbs, free space, a server-paged listing sorted
 * by name, size or modification time, upload with progress (resumable), new folder, rename or
 * move, copy, permissions, delete (asks first; folders go with their contents), download,
 * compress and extract (jobs, progress shown live) and the editor for text files. Another
 * tenant's CloudPod answers "Not found".
 */
export function FilesPage({ params }: { params: Record<string, string> }) {
  const id = params.id ?? "";
  const { base } = useArea();
  const confirm = useConfirm();
  const toast = useToast();
  const here = `${base}/cloudpods/${id}/files`;
  const { query, set } = useUrlQuery(here, ["path", "sort", "order"] as const, PAGE_SIZE);
  const dir = query.path.replace(/^\/+|\/+$/g, "");
  const sorting: Sorting = { sort: query.sort === "size" || query.sort === "mtime" ? query.sort : "name", order: query.order === "desc" ? "desc" : "asc" };
  const listQuery = { path: dir, page: query.page, pageSize: PAGE_SIZE, ...sorting };
  const pod = useResource(() => api.cloudPod(id), id);
  const listing = useResource(() => api.files(id, listQuery), `${id}:${JSON.stringify(listQuery)}`);
  const [spaceGeneration, setSpaceGeneration] = useState(0);
  const [action, setAction] = useState<FileAction | null>(null);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [jobs, setJobs] = useState<FileJob[]>([]);
  const [banner, setBanner] = useState<string | null>(null);
  useEffect(() => {
    setSelected(new Set());
    setAction(null);
    setBanner(null);
  }, [dir, query.page]);

  const refresh = (): void => {
    listing.reload();
    setSpaceGeneration((g) => g + 1);
  };
  const folderHref = (path: string): string => {
    const search = new URLSearchParams();
    if (path) search.set("path", path);
    if (query.sort) search.set("sort", query.sort);
    if (query.order) search.set("order", query.order);
    return search.size ? `${here}?${search}` : here;
  };
  const editHref = (path: string): string => `${here}/edit?path=${encodeURIComponent(path)}`;
  const remove = async (entry: FileEntry): Promise<void> => {
    const folder = entry.type === "directory";
    const ok = await confirm(folder
      ? { title: `Delete folder ${entry.name}?`, body: `This deletes the folder ${entry.name} and everything inside it (recursively). It cannot be undone.`, action: "Delete folder and contents" }
      : { title: `Delete ${entry.name}?`, body: `This deletes ${entry.name}. It cannot be undone.`, action: "Delete" });
    if (!ok) return;
    setBanner(null);
    try {
      const { removed } = await api.deleteFile(id, joinPath(dir, entry.name));
      toast(`Deleted ${entry.name}${removed > 1 ? ` (${removed} entries)` : ""}`);
      setSelected((s) => new Set([...s].filter((n) => n !== entry.name)));
      refresh();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      setBanner(`Could not delete ${entry.name}: ${message}`);
      toast(message, "error");
    }
  };
  const select = (names: string[], on: boolean): void => setSelected((s) => {
    const next = new Set(s);
    for (const n of names) if (on) next.add(n); else next.delete(n);
    return next;
  });

  if (pod.notFound) return <NotFound what="CloudPod" />;
  const rootName = pod.data?.name ?? "CloudPod";
  const data = listing.data;
  return (
    <>
      <PageHeader title="Files">
        {pod.data && <span className="muted">{pod.data.name} <Badge status={pod.data.status} /></span>}
        <Link to={`${base}/sites`}>Back to sites</Link>
      </PageHeader>
      {pod.data?.status === "suspended" && <p className="banner" role="status">This CloudPod is suspended: its files can be read and downloaded, not changed.</p>}
      <SpaceMeter podId={id} generation={spaceGeneration} />
      <Breadcrumbs dir={dir} rootName={rootName} href={folderHref} />
      <div className="file-toolbar" role="toolbar" aria-label="File actions">
        <button type="button" onClick={() => setAction({ kind: "mkdir" })}>New folder</button>
        <UploadPanel podId={id} dir={dir} onUploaded={refresh} />
        <button type="button" disabled={selected.size === 0} onClick={() => setAction({ kind: "archive", paths: [...selected].map((n) => joinPath(dir, n)) })}>
          Compress selected{selected.size ? ` (${selected.size})` : ""}
        </button>
        <button type="button" onClick={refresh}>Refresh</button>
      </div>
      {action && (
        <ActionPanel key={action.kind === "mkdir" ? "mkdir" : action.kind === "archive" ? `archive:${action.paths.join("\0")}` : `${action.kind}:${action.path}`}
          action={action} podId={id} dir={dir} onCancel={() => setAction(null)}
          onDone={() => { setAction(null); refresh(); }} onJob={(job) => setJobs((all) => [job, ...all])} />
      )}
      {jobs.length > 0 && (
        <ul className="file-jobs" aria-label="Archive jobs">
          {jobs.map((job) => <JobProgress key={job.jobId} job={job} onFinished={(status) => { if (status === "succeeded") refresh(); }} />)}
        </ul>
      )}
      {banner && <p className="form-error" role="alert">{banner}</p>}
      {listing.error && (
        <div className="form-error" role="alert">
          <p>{listing.notFound ? "This folder does not exist" : "The folder could not be listed"}: {listing.error}</p>
          {dir && <Link to={folderHref("")}>Go to {rootName}</Link>}
        </div>
      )}
      {!listing.error && (!data || listing.loading) && <p className="muted" role="status" aria-busy="true">Loading…</p>}
      {data && !listing.error && (data.total === 0 ? (
        <Empty title="This folder is empty">
          <p>Upload files or create a folder with the buttons above.{dir ? " " : ""}{dir && <Link to={folderHref(crumbsOf(dir).at(-2)?.path ?? "")}>Go up a level</Link>}</p>
        </Empty>
      ) : (
        <>
          {data.entries.length === 0
            ? <Empty title="Nothing on this page"><p><button type="button" onClick={() => set({ page: 1 })}>Go to the first page</button></p></Empty>
            : <FileTable podId={id} dir={dir} entries={data.entries} sorting={sorting} onSort={(next) => set({ ...next, path: dir })}
                selected={selected} onSelect={select} folderHref={folderHref} editHref={editHref} onAction={setAction} onDelete={(e) => void remove(e)} />}
          <div className="file-pages">
            <Pager page={data.page} pageSize={data.pageSize} total={data.total} onPage={(page) => set({ page })} />
            <PageJump pages={Math.ceil(data.total / data.pageSize)} onPage={(page) => set({ page })} />
          </div>
        </>
      ))}
    </>
  );
}
