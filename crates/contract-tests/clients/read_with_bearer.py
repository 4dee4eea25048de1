"""Reads an SSE stream with httpx-sse, as a Python service would: the token in an
Authorization: Bearer header, HTTP/2 for an https:// URL (the servers' certificate is
self-signed, so it is not verified).

    python read_with_bearer.py URL TOKEN COUNT

Prints the HTTP version, then the data of the first COUNT `chat` events, one per line; exits 3
with the status and the body when the server refuses the stream.
"""

import sys

import httpx
from httpx_sse import connect_sse


def main() -> int:
    url, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(http2=url.startswith("https:"), verify=False, timeout=10) as client:
        with connect_sse(client, "GET", url, headers=headers) as source:
            response = source.response
            print(response.http_version, flush=True)
            if response.status_code != 200:
                print(response.status_code, response.read().decode(), flush=True)
                return 3
            seen = 0
            for event in source.iter_sse():
                if event.event == "chat":
                    print(event.data, flush=True)
                    seen += 1
                    if seen == count:
                        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
