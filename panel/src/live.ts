import { useEffect, useLayoutEffect, useRef, useSyncExternalStore } from "react";
import type { LiveEvent } from "./types";

/** State of the one live socket: `connecting`, `live` (hello received) or `offline` (waiting to reconnect). */
export type LiveState = "connecting" | "live" | "offline";

/** What a page hears: a change, or `resync` after a reconnect (changes may have been missed: reload). */
export type LiveMessage = LiveEvent | { kind: "resync" };

type Listener = (message: LiveMessage) => void;

const listeners = new Set<Listener>();
const stateListeners = new Set<() => void>();
let state: LiveState = "offline";
let socket: WebSocket | null = null;
let attempts = 0;
let timer: number | undefined;
let wanted = false;
let connectedBefore = false;

function setState(next: LiveState): void {
  state = next;
  stateListeners.forEach((l) => l());
}

function open(): void {
  setState("connecting");
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live`);
  socket = ws;
  ws.onmessage = (message: MessageEvent<string>) => {
    const parsed = JSON.parse(message.data) as { type: "hello" } | { type: "event"; event: LiveEvent };
    if (parsed.type === "hello") {
      attempts = 0;
      setState("live");
      if (connectedBefore) listeners.forEach((l) => l({ kind: "resync" }));
      connectedBefore = true;
    } else {
      listeners.forEach((l) => l(parsed.event));
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    setState("offline");
    if (!wanted) return;
    // Full jitter inside an exponential window (0.5 s doubling to 30 s): tabs do not reconnect in lockstep after a restart.
    const span = Math.min(30_000, 500 * 2 ** Math.min(attempts, 6));
    attempts += 1;
    timer = window.setTimeout(open, Math.random() * span);
  };
}

/** Opens the socket (after login); it reconnects by itself until `stopLive`. */
export function startLive(): void {
  if (wanted) return;
  wanted = true;
  connectedBefore = false;
  open();
}

/** Closes the socket for good (logout, session expiry). */
export function stopLive(): void {
  wanted = false;
  window.clearTimeout(timer);
  const ws = socket;
  socket = null;
  ws?.close();
  setState("offline");
}

/** The socket's state; re-renders when it changes. */
export function useLiveState(): LiveState {
  return useSyncExternalStore((l) => {
    stateListeners.add(l);
    return () => stateListeners.delete(l);
  }, () => state);
}

/** Calls `listener` (the latest one given) with every live message while the component is mounted. */
export function useLive(listener: Listener): void {
  const ref = useRef(listener);
  useLayoutEffect(() => {
    ref.current = listener;
  });
  useEffect(() => {
    const forward: Listener = (message) => ref.current(message);
    listeners.add(forward);
    return () => {
      listeners.delete(forward);
    };
  }, []);
}
