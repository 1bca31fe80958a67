import { createServer } from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: listens on port 0, reads the port the
 * kernel chose, closes. Another process may take it before the caller binds it (tests accept
 * that race). Resolves to a port number in 1..65535; rejects with the listen error.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}
