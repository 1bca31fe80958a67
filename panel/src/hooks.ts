import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "./api";
import { useLive, type LiveMessage } from "./live";

/** A loaded value: `data` once loaded, `notFound` after a 404, `error` for anything else. */
export interface Resource<T> {
  data: T | null;
  error: string | null;
  notFound: boolean;
  loading: boolean;
  reload(): void;
  /** Changes the loaded value in place (live updates). */
  update(change: (current: T) => T): void;
}

/**
 * Loads `load()` now and whenever `key` changes; reloads on a live `resync`. Live changes that
 * arrive while a load is in flight are applied (through `onLive`) after it lands, so an
 * answer older than the change never overwrites it.
 */
export function useResource<T>(load: () => Promise<T>, key: string, onLive?: (current: T, message: LiveMessage) => T): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notFound, setNotFound] = useState(false);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const pending = useRef<LiveMessage[] | null>(null);
  const loader = useRef(load);
  loader.current = load;
  const live = useRef(onLive);
  live.current = onLive;

  useEffect(() => {
    let current = true;
    pending.current = [];
    setLoading(true);
    loader.current().then((value) => {
      if (!current) return;
      const queued = pending.current ?? [];
      pending.current = null;
      const apply = live.current;
      setData(apply ? queued.reduce(apply, value) : value);
      setError(null);
      setNotFound(false);
    }, (failure: unknown) => {
      if (!current) return;
      pending.current = null;
      setNotFound(failure instanceof ApiError && failure.status === 404);
      setError(failure instanceof Error ? failure.message : String(failure));
    }).finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
  }, [key, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  useLive((message) => {
    if (message.kind === "resync") return reload();
    const apply = live.current;
    if (!apply) return;
    if (pending.current) pending.current.push(message);
    else setData((value) => (value === null ? value : apply(value, message)));
  });
  const update = useCallback((change: (current: T) => T) => setData((value) => (value === null ? value : change(value))), []);
  return { data, error, notFound, loading, reload, update };
}
