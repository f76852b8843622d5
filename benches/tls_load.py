"""tls_load.py - the MX hosts of benches/tls_load.sh: one ESMTP listener on port 25 of each address
given, all in one asyncio process, offering STARTTLS (mode `tls`) or not (mode `plain`), so that a
scan's SMTP stage does real TLS handshakes (or the same sessions without them) while its DNS stage
runs. Closed to relaying (RCPT gets 550), nothing is ever delivered: DATA is refused (mxray never
sends it). Loopback addresses only (the script refuses others).

    python3 tls_load.py MODE IPS_FILE CERT KEY
"""

import asyncio
import ipaddress
import ssl
import sys

NAME = b"tls-load.bench.test"


async def session(reader, writer, ctx):
    tls = False
    writer.write(b"220 " + NAME + b" ESMTP bench\r\n")
    try:
        while True:
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                break
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                ext = b"250-STARTTLS\r\n" if ctx and not tls else b""
                writer.write(b"250-" + NAME + b"\r\n" + ext + b"250 8BITMIME\r\n")
            elif verb == b"STAR" and ctx and not tls:
                writer.write(b"220 2.0.0 ready\r\n")
                await writer.drain()
                await writer.start_tls(ctx)
                tls = True
                continue
            elif verb == b"RCPT":
                writer.write(b"550 5.7.1 relaying denied\r\n")
            elif verb == b"DATA":
                writer.write(b"554 5.5.1 no valid recipients\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                break
            elif verb in (b"MAIL", b"RSET", b"NOOP", b"VRFY"):
                writer.write(b"250 2.0.0 ok\r\n")
            else:
                writer.write(b"502 5.5.2 not implemented\r\n")
            await writer.drain()
    except (OSError, asyncio.TimeoutError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def listen(ip, ctx):
    # The previous run's process may still hold the port for a moment after it was killed.
    for _ in range(50):
        try:
            return await asyncio.start_server(
                lambda r, w: session(r, w, ctx), ip, 25, backlog=64
            )
        except OSError:
            await asyncio.sleep(0.1)
    return await asyncio.start_server(lambda r, w: session(r, w, ctx), ip, 25, backlog=64)


async def main(mode, ips_file, cert, key):
    ctx = None
    if mode == "tls":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
    ips = [l.strip() for l in open(ips_file) if l.strip()]
    for ip in ips:
        if not ipaddress.ip_address(ip).is_loopback:
            sys.exit(f"tls_load.py: {ip} is not a loopback address")
    servers = [await listen(ip, ctx) for ip in ips]
    print(f"listening on {len(servers)} addresses, {mode}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
