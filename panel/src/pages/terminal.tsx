import { useEffect, useRef, useState } from "react";
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { Link } from "../router";
import { useArea } from "../session";
import { PageHeader } from "../ui";

/** The server's WebSocket frame limit (bytes): longer pastes go out in several frames. */
const MAX_FRAME_BYTES = 4096;

type State = "connecting" | "open" | "closed";

/**
 * A CloudPod's web terminal: xterm.js on `GET /api/admin/cloudpods/:id/terminal` (a WebSocket;
 * keystrokes and output as binary frames, resizes as `{"type":"resize","cols","rows"}` text
 * frames). `data-state` on the terminal says connecting, open or closed; the close reason is shown.
 */
export function TerminalPage({ params }: { params: Record<string, string> }) {
  const { base } = useArea();
  const host = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<State>("connecting");
  const [reason, setReason] = useState("");
  const id = params.id ?? "";

  useEffect(() => {
    const element = host.current;
    if (!element) return undefined;
    const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(element);
    fit.fit();
    const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/admin/cloudpods/${encodeURIComponent(id)}/terminal`);
    socket.binaryType = "arraybuffer";
    const encoder = new TextEncoder();
    const sendSize = (): void => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
    };
    socket.onopen = () => {
      setState("open");
      sendSize();
      term.focus();
    };
    socket.onmessage = (event: MessageEvent<ArrayBuffer>) => term.write(new Uint8Array(event.data));
    socket.onclose = (event) => {
      setState("closed");
      setReason(event.reason || `closed (${event.code})`);
    };
    const input = term.onData((text) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      const bytes = encoder.encode(text);
      for (let at = 0; at < bytes.length; at += MAX_FRAME_BYTES) socket.send(bytes.subarray(at, at + MAX_FRAME_BYTES));
    });
    const resized = term.onResize(sendSize);
    const onWindowResize = (): void => fit.fit();
    window.addEventListener("resize", onWindowResize);
    return () => {
      window.removeEventListener("resize", onWindowResize);
      input.dispose();
      resized.dispose();
      socket.close();
      term.dispose();
    };
  }, [id]);

  return (
    <>
      <PageHeader title="Terminal"><Link to={`${base}/sites`}>Back to sites</Link></PageHeader>
      <p className="muted" role="status" data-terminal-state={state}>{state === "closed" ? `Session ended: ${reason}` : state === "open" ? "Connected" : "Connecting…"}</p>
      <div className="terminal" ref={host} data-terminal data-state={state} />
    </>
  );
}
