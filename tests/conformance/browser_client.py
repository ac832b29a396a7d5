"""The browser thin client of the conformance suite: calls made from a page in Chromium.

The same protocol as ``python_client.py`` (README.md next to this file). Every unary and
server-streaming call is made inside headless Chromium by the TypeScript thin client's
logic over connect-web (``sdk/typescript/src/conformance/browser.ts``: Connect, protobuf
binary, fetch over HTTP/1.1), driven here through Playwright. Each target gets one page,
loaded from that bridge's web port (``PAGE``, served from its ``--web-root``), so every
call is same-origin, as the dashboard's are. A target ``host:port`` is the web port's
address.

Browsers cannot send client streams (fetch has no request streaming over HTTP/1.1, and
connect-web refuses them), so client-streaming calls (``IngestActivations``) go to the same
web port from Python instead (``connect_client``, Connect binary); everything the
scenarios read comes back through the browser.

Usage: ``python -m tests.conformance.browser_client [--page /conformance.html]`` from the
repository root (PYTHONPATH must reach contract/python); the page must define
``window.nhConformance``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from connectrpc.protocol import ProtocolType
from google.protobuf import descriptor_pool
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.conformance import connect_client
from tests.support.chromium import launch

PAGE = "/conformance.html"


def _client_streaming(method: str) -> bool:
    """Whether ``service/Method`` sends a client stream (False when unknown: the page says)."""
    service_name, _, method_name = method.rpartition("/")
    try:
        service = descriptor_pool.Default().FindServiceByName(service_name)
    except KeyError:
        return False
    found = service.methods_by_name.get(method_name)
    return found is not None and found.client_streaming


def _log_console(target: str, msg: ConsoleMessage) -> None:
    if msg.type == "error":
        print(f"browser console ({target}): {msg.text}", file=sys.stderr, flush=True)


class BrowserClient:
    """One page per target; open streams live in the page that started them."""

    def __init__(self, browser: Browser, page_path: str) -> None:
        self._browser = browser
        self._path = page_path
        self._pages: dict[str, Page] = {}
        self._stream_pages: dict[str, Page] = {}  # open streams' ids (as JSON) -> page
        self._python = connect_client.Client(ProtocolType.CONNECT, json_codec=False)

    def _page(self, target: str) -> Page:
        if target not in self._pages:
            page = self._browser.new_page()
            page.on("console", lambda msg: _log_console(target, msg))
            url = f"http://{target}{self._path}"
            response = page.goto(url)
            if response is None or not response.ok:
                status = "no response" if response is None else response.status
                raise connect_client.ClientError(f"page {url}: {status}")
            page.wait_for_function("() => 'nhConformance' in window", timeout=10_000)
            self._pages[target] = page
        return self._pages[target]

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        """The answer line of one request (``id`` included)."""
        key = json.dumps(req.get("id"))
        op = req.get("op", "call")
        if op == "call" and _client_streaming(req.get("method", "")):
            return {"id": req.get("id"), **connect_client.handle(self._python, req)}
        try:
            page = self._page(req["target"]) if op == "call" else self._stream_pages[key]
        except connect_client.ClientError as e:
            return {"id": req.get("id"), "error": str(e)}
        except KeyError:
            return {"id": req.get("id"), "error": f"no open stream {key}"}
        doc: dict[str, Any] = page.evaluate("(r) => window.nhConformance.answer(r)", req)
        if doc.get("open"):
            self._stream_pages[key] = page
        else:
            self._stream_pages.pop(key, None)
        return doc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--page", default=PAGE, help="path of the page on every target's web port")
    a = p.parse_args()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        client = BrowserClient(browser, a.page)
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(client.answer(json.loads(line))), flush=True)
        browser.close()


if __name__ == "__main__":
    main()
