#!/usr/bin/env python3
"""A TLS-terminating TCP proxy for the https tests (tests/tls.rs).

    tls_proxy.py --cert LEAF.pem --key LEAF.key --upstream HOST:PORT

Listens on 127.0.0.1 (port chosen by the OS), prints that port on stdout as
one line, then for every connection completes a server-side TLS handshake and
relays the plaintext both ways to the upstream TCP service. A connection whose
handshake fails is simply closed. The proxy exits when its stdin closes, so a
test that dies leaves nothing behind.

Each connection is served by one thread driving an ssl.SSLObject over memory
BIOs, so the TLS state is never touched by two threads at once.
"""

import argparse
import os
import select
import socket
import ssl
import sys
import threading


def watch_stdin():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def serve(client, ctx, upstream):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    up = None
    handshaken = False

    def flush():
        data = outgoing.read()
        if data:
            client.sendall(data)

    try:
        client.settimeout(30)  # for the handshake only
        while True:
            socks = [client] if up is None else [client, up]
            readable, _, _ = select.select(socks, [], [], None if handshaken else 30)
            if not readable:
                return  # a client that never finishes the handshake
            if client in readable:
                data = client.recv(65536)
                if data:
                    incoming.write(data)
                else:
                    incoming.write_eof()
                if not handshaken:
                    try:
                        tls.do_handshake()
                    except ssl.SSLWantReadError:
                        flush()
                        if not data:
                            return
                        continue
                    flush()
                    handshaken = True
                    client.settimeout(None)
                    up = socket.create_connection(upstream)
                    # A relay must not hold small writes back (Nagle's
                    # algorithm against delayed ACKs costs 40 ms a request).
                    up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while True:
                    try:
                        plain = tls.read(65536)
                    except ssl.SSLWantReadError:
                        break
                    if not plain:  # close_notify
                        return
                    up.sendall(plain)
                flush()
                if not data:
                    return
            if up is not None and up in readable:
                data = up.recv(65536)
                if not data:
                    try:
                        tls.unwrap()  # queues our close_notify
                    except ssl.SSLError:
                        pass
                    flush()
                    return
                tls.write(data)
                flush()
    except (OSError, ssl.SSLError):
        return  # handshake failure, reset, ...: drop this connection
    finally:
        for s in (client, up):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--upstream", required=True, help="HOST:PORT of the plain TCP service")
    a = p.parse_args()
    host, _, port = a.upstream.rpartition(":")
    upstream = (host.strip("[]"), int(port))

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write(f"{listener.getsockname()[1]}\n")
    sys.stdout.flush()

    while True:
        try:
            client, _ = listener.accept()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            continue
        threading.Thread(target=serve, args=(client, ctx, upstream), daemon=True).start()


if __name__ == "__main__":
    main()
