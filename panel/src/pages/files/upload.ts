import { api, ApiError, csrfToken } from "../../api";
import type { FieldIssue, UploadProgress } from "../../types";

/** Bytes of an upload's first request: small, so the node's free-space and quota check (made on the first chunk) answers before much is sent. */
const FIRST_SLICE_BYTES = 256 * 1024;
/** Bytes of each later request (8 of the stream's 1 MiB chunks). */
const SLICE_BYTES = 8 * 1024 * 1024;
/** Interrupted requests in a row before an upload gives up. */
const MAX_RETRIES = 5;

/** A request that did not complete (network error, connection cut): the node keeps what arrived. */
class UploadInterrupted extends Error {
  constructor() {
    super("the upload was interrupted");
    this.name = "UploadInterrupted";
  }
}

/** 32-bit FNV-1a of `text` from `seed`, as 8 hex digits. */
function fnv1a(text: string, seed: number): string {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, "0");
}

/**
 * The upload id of `file` going to `path`: the same for the same file (name, size, last
 * change) and destination, so choosing the file again after a reload resumes the upload.
 * Matches the API's UploadId (8-64 characters of A-Z a-z 0-9 _ -).
 */
export function uploadIdOf(path: string, file: File): string {
  const key = `${path}\0${file.size}\0${file.lastModified}`;
  return `up-${fnv1a(key, 0x811c9dc5)}${fnv1a(key, 0x2f6b7c3d)}-${file.size.toString(36)}`;
}

/** One `PUT` of `body` (the file's bytes from the query's offset), reporting bytes sent as they go. */
function putSlice(url: string, body: Blob, onSent: (bytes: number) => void, signal: AbortSignal): Promise<UploadProgress> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("content-type", "application/octet-stream");
    xhr.setRequestHeader("accept", "application/json");
    xhr.setRequestHeader("x-csrf-token", csrfToken());
    xhr.upload.onprogress = (event) => onSent(event.loaded);
    xhr.onload = () => {
      const parsed = (xhr.responseText ? JSON.parse(xhr.responseText) : {}) as { data?: UploadProgress; error?: string; message?: string; details?: FieldIssue[] };
      if (xhr.status >= 200 && xhr.status < 300 && parsed.data) resolve(parsed.data);
      else if (xhr.status >= 500) reject(new UploadInterrupted());
      else reject(new ApiError(xhr.status, parsed.error ?? "error", parsed.message ?? `upload failed (${xhr.status})`, parsed.details ?? []));
    };
    xhr.onerror = () => reject(new UploadInterrupted());
    xhr.ontimeout = () => reject(new UploadInterrupted());
    xhr.onabort = () => reject(new DOMException("the upload was canceled", "AbortError"));
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    if (signal.aborted) xhr.abort();
    else xhr.send(body);
  });
}

/** Waits `ms` milliseconds, or rejects when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = window.setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      window.clearTimeout(timer);
      reject(new DOMException("the upload was canceled", "AbortError"));
    }, { once: true });
  });
}

/**
 * Uploads `file` to `path` in CloudPod `podId` with the resumable upload API: asks the node
 * how many bytes it already has (`upload_status`), then sends the rest from that offset, a
 * slice per request. A request cut off (network error, 5xx) or refused for a wrong offset
 * (409) is resumed from the node's count after a backoff of 0.5 s doubling, up to MAX_RETRIES
 * times in a row. `onSent(bytes)` reports the bytes of the file sent so far. Resolves when the
 * node has moved the file into place; rejects with the API's ApiError (e.g. `no_capacity`
 * when the file does not fit, after the first small request) or an AbortError on `signal`.
 */
export async function uploadFile(podId: string, path: string, file: File, onSent: (bytes: number) => void, signal: AbortSignal): Promise<void> {
  const uploadId = uploadIdOf(path, file);
  let offset = (await api.uploadStatus(podId, path, uploadId)).received;
  let failures = 0;
  onSent(offset);
  for (;;) {
    const end = Math.min(file.size, offset + (offset === 0 ? FIRST_SLICE_BYTES : SLICE_BYTES));
    const url = api.uploadUrl(podId, { path, uploadId, offset, size: file.size });
    const from = offset;
    try {
      const result = await putSlice(url, file.slice(from, end), (bytes) => onSent(from + bytes), signal);
      if (result.complete) return onSent(result.received);
      // A request the node took in full that moved nothing forward would repeat forever.
      if (result.received <= from) throw new Error(`the upload stalled at byte ${result.received} of ${file.size}`);
      offset = result.received;
      failures = 0;
      onSent(offset);
    } catch (error) {
      const conflict = error instanceof ApiError && error.code === "conflict";
      if (!(error instanceof UploadInterrupted) && !conflict) throw error;
      failures += 1;
      if (failures > MAX_RETRIES) throw error;
      await pause(500 * 2 ** (failures - 1), signal);
      offset = (await api.uploadStatus(podId, path, uploadId)).received;
      // A conflict that is not about the offset (e.g. a suspended CloudPod) would only repeat.
      if (conflict && offset === from) throw error;
      onSent(offset);
    }
  }
}
