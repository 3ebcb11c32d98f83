// The HTTPS server (http2.createSecureServer with allowHTTP1) needs what Fastify only does for plain
// HTTP/1.1 servers: no per-request time limit (uploads take long), an idle timeout for HTTP/1.1
// keep-alive sockets, and a graceful close. Node 20's http2 server.close() waits for every session
// and socket to end on its own; here HTTP/2 sessions get a GOAWAY (in-flight streams finish) and
// HTTP/1.1 sockets are closed once their current response is done.
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

export interface SecureConnections {
  /** GOAWAY to every HTTP/2 session; idle HTTP/1.1 sockets closed now, busy ones after their response. */
  closeGracefully(): void;
}

export function manageSecureConnections(server: Http2SecureServer, opts: { keepAliveTimeoutMs: number }): SecureConnections {
  // Read by Node's HTTP/1.1 connection handling, which the http2 server borrows for allowHTTP1.
  const h1 = server as unknown as { requestTimeout: number; keepAliveTimeout: number };
  h1.requestTimeout = 0;
  h1.keepAliveTimeout = opts.keepAliveTimeoutMs;

  const sessions = new Set<ServerHttp2Session>();
  /** HTTP/1.1 sockets and how many of their requests are unanswered. */
  const http1 = new Map<TLSSocket, number>();
  let closing = false;

  server.on('session', (session: ServerHttp2Session) => {
    if (closing) return void session.close();
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });

  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return;
    http1.set(socket, 0);
    socket.once('close', () => http1.delete(socket));
  });

  server.on('request', (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    if (req.httpVersionMajor >= 2) return;
    const socket = req.socket as TLSSocket;
    http1.set(socket, (http1.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (http1.get(socket) ?? 1) - 1;
      http1.set(socket, left);
      if (closing && left === 0) closeSocket(socket);
    });
  });

  return {
    closeGracefully() {
      closing = true;
      for (const session of sessions) session.close();
      for (const [socket, busy] of http1) if (busy === 0) closeSocket(socket);
    },
  };
}

/** close_notify and FIN once everything written has left, then the socket is gone (a peer that never answers cannot hold the close). */
function closeSocket(socket: TLSSocket): void {
  socket.end(() => socket.destroy());
}
