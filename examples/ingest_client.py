"""Publish events to a livedash app over HTTP, as any script or service on any machine can.

Run: python examples/ingest_client.py [--url http://127.0.0.1:8050] [--count 20]
Sends `Authorization: Bearer $LIVEDASH_TOKEN` when that variable is set. Only the standard
library is used, so this file runs on any machine that can reach the dashboard.
"""

import argparse
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request

ITEMS = {"coffee": 2.80, "croissant": 1.90, "juice": 3.50, "bagel": 2.40}


def publish(url, events, token=None):
    """POST a batch of {"stream": ..., "data": {...}}; all are stored or none."""
    body = json.dumps({"events": events}).encode()
    request = urllib.request.Request(
        url + "/livedash/publish",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8050", help="the dashboard's address")
    parser.add_argument("--count", type=int, default=20, help="orders to send (default: 20)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between orders")
    args = parser.parse_args()
    token = os.environ.get("LIVEDASH_TOKEN")
    for _ in range(args.count):
        item = random.choice(list(ITEMS))
        qty = random.randint(1, 4)
        order = {"item": item, "qty": qty, "total": round(qty * ITEMS[item], 2)}
        try:
            answer = publish(args.url, [{"stream": "orders", "data": order}], token)
        except urllib.error.HTTPError as exc:
            # The server says what was wrong in a JSON body: {"error": "..."}.
            sys.exit(f"publish refused ({exc.code}): {exc.read().decode()}")
        for event in answer["published"]:
            print(f"published {event['stream']} #{event['seq']}: {order}")
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
