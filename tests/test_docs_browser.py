"""The built documentation as readers see it: every page opened in headless Chromium.

``sphinx-build -W`` checks the reST, but some faults only show in a browser: the theme
draws some of its error messages with CSS (Furo's red box over a ``.. contents::``
directive comes from a ``::before`` rule, so its text is in no HTML file), a script can
throw, an image can fail to load, a table can push the page sideways on a phone. Each
page is opened at desktop width (1280 px), then narrowed to phone width (390 px), and
its test fails on

- anything the theme or docutils flags as an error: an element whose ``::before`` or
  ``::after`` content, as computed by the browser, says "error", and docutils'
  ``system-message`` and ``problematic`` elements;
- a JavaScript exception, a console error or a resource that fails to load;
- an image that did not load (``naturalWidth`` 0), the performance chart included;
- an internal link to a file that does not exist, or to an anchor the page does not have;
- a page that scrolls sideways (a wide table or code block must scroll inside its own
  box).

The site is built into docs/_build/html (incrementally, as ``make docs`` does), and
screenshots of a few pages go to docs/_build/screenshots/ for people to look at.
Chromium is driven through its DevTools protocol over ``--remote-debugging-pipe``: no
port, no extra package. Without Chromium (Debian package ``chromium``) the tests skip,
and fail instead when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import trio
from conftest import require_tool, unavailable

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "docs"
BUILD = SOURCES / "_build" / "html"
SCREENSHOTS = SOURCES / "_build" / "screenshots"

#: The pages Sphinx generates besides one per reST file.
GENERATED = ["genindex", "py-modindex", "search"]


def _pages() -> list[str]:
    """Every page of the site: one per reST file, except files other files include."""
    sources = sorted(SOURCES.glob("*.rst"))
    included = {
        name
        for path in sources
        for name in re.findall(r"^\.\. include:: (\S+)$", path.read_text(), re.M)
    }
    return [path.stem for path in sources if path.name not in included] + GENERATED


PAGES = _pages()
#: Pages kept as screenshots (docs/_build/screenshots/<page>-<width>.png).
SHOWN = {"index", "tutorial", "performance"}

DESKTOP = {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}

#: Seconds for building the site and for opening and checking every page.
BUILD_DEADLINE = 180
BROWSE_DEADLINE = 90
#: Seconds one page may take to load and be checked.
PAGE_DEADLINE = 20

# Run in the page once it has loaded: what the theme flags, the images that did not
# load, the links and the anchors.
_INSPECT = """(() => {
  const describe = (el) => {
    const section = el.closest("section[id]");
    return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
      + [...el.classList].map((name) => "." + name).join("")
      + (section ? ` in section #${section.id}` : "");
  };
  const flagged = [];
  for (const el of document.querySelectorAll("*")) {
    for (const pseudo of ["::before", "::after"]) {
      const content = getComputedStyle(el, pseudo).content;
      if (/error/i.test(content)) {
        flagged.push(`${describe(el)} shows ${pseudo}: ${content.slice(0, 200)}`);
      }
    }
  }
  for (const el of document.querySelectorAll(".system-message, .problematic")) {
    flagged.push(`${describe(el)}: ${el.textContent.trim().slice(0, 200)}`);
  }
  return {
    flagged,
    brokenImages: [...document.images]
      .filter((img) => !img.complete || img.naturalWidth === 0)
      .map((img) => img.getAttribute("src")),
    links: [...document.querySelectorAll("a[href]")]
      .map((a) => [a.getAttribute("href"), a.href]),
    ids: [...document.querySelectorAll("[id]")].map((el) => el.id)
      .concat([...document.querySelectorAll("a[name]")].map((a) => a.name)),
  };
})()"""

# Run at phone width: the outermost elements that stick out past the right edge of the
# viewport without a scrolling (or clipping) box around them.
_OVERFLOW = """(() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  const clipped = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") return true;
    }
    return false;
  };
  const culprits = [];
  for (const el of document.body.querySelectorAll("*")) {
    const right = el.getBoundingClientRect().right;
    if (right <= width + 1 || clipped(el) || culprits.some((c) => c.contains(el))) continue;
    culprits.push(el);
  }
  return culprits.slice(0, 5).map((el) => {
    const section = el.closest("section[id]");
    return el.tagName.toLowerCase() + [...el.classList].map((name) => "." + name).join("")
      + (section ? ` in section #${section.id}` : "")
      + ` reaches ${Math.round(el.getBoundingClientRect().right)} px`;
  }).concat([`the page is ${document.documentElement.scrollWidth} px wide`]);
})()"""

_ERROR_EVENTS = {"Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded"}


class DevToolsError(Exception):
    """Chromium answered a DevTools command with an error, or went away."""


class DevTools:
    """A client of Chromium's DevTools protocol over ``--remote-debugging-pipe``.

    Chromium reads commands from its fd 3 and writes replies and events to its fd 4,
    each message JSON ended by a NUL byte. Events that arrive while a command waits for
    its reply are kept in ``events``, in order.
    """

    def __init__(self, commands: trio.abc.SendStream, replies: trio.abc.ReceiveStream) -> None:
        self._commands = commands
        self._replies = replies
        self._buffer = bytearray()
        self._last_id = 0
        self.events: list[dict[str, Any]] = []

    async def _receive(self) -> dict[str, Any]:
        while (end := self._buffer.find(b"\0")) < 0:
            chunk = await self._replies.receive_some(1 << 16)
            if not chunk:
                raise DevToolsError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message: dict[str, Any] = json.loads(self._buffer[:end])
        del self._buffer[: end + 1]
        return message

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        """Send a command (to a page's *session*, or to the browser) and return its result."""
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._commands.send_all(json.dumps(message).encode() + b"\0")
        while (reply := await self._receive()).get("id") != self._last_id:
            self.events.append(reply)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply["result"]

    async def wait_for(self, method: str, session: str, since: int) -> dict[str, Any]:
        """The first event *method* of *session* at or after ``events[since]``."""
        index = since
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            self.events.append(await self._receive())

    async def evaluate(self, session: str, expression: str) -> Any:
        """The value of a JavaScript *expression* in the page (awaited if a promise)."""
        result = await self.call(
            "Runtime.evaluate",
            session,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression[:60]!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")


@dataclass
class Page:
    """What one page showed in the browser."""

    problems: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list, repr=False)
    ids: set[str] = field(default_factory=set, repr=False)


def _console_error(event: dict[str, Any]) -> str | None:
    params = event["params"]
    if event["method"] == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text")
        return f"JavaScript exception: {text}"
    if event["method"] == "Runtime.consoleAPICalled" and params["type"] in {"error", "assert"}:
        text = " ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"])
        return f"console.{params['type']}: {text}"
    if event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
        entry = params["entry"]
        return f"console error ({entry['source']}): {entry['text']} {entry.get('url', '')}"
    return None


async def _screenshot(devtools: DevTools, session: str, path: Path) -> None:
    """The whole page, not only the viewport, as a PNG file."""
    size = (await devtools.call("Page.getLayoutMetrics", session))["cssContentSize"]
    shot = await devtools.call(
        "Page.captureScreenshot",
        session,
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
    )
    await trio.Path(path).write_bytes(base64.b64decode(shot["data"]))


async def _open(devtools: DevTools, session: str, path: Path, screenshots: Path | None) -> Page:
    """Open the page at *path* and check it (with screenshots into *screenshots*)."""
    page = Page()
    await devtools.call("Emulation.setDeviceMetricsOverride", session, **DESKTOP)
    since = len(devtools.events)
    navigation = await devtools.call("Page.navigate", session, url=path.as_uri())
    if "errorText" in navigation:
        page.problems.append(f"does not open: {navigation['errorText']}")
        return page
    await devtools.wait_for("Page.loadEventFired", session, since)
    await devtools.evaluate(session, "document.fonts.ready.then(() => null)")
    found = await devtools.evaluate(session, _INSPECT)
    page.problems += [f"the page flags an error: {text}" for text in found["flagged"]]
    page.problems += [f"image does not load: {src}" for src in found["brokenImages"]]
    page.links = [(href, url) for href, url in found["links"]]
    page.ids = set(found["ids"])
    for screen in (DESKTOP, PHONE):
        await devtools.call("Emulation.setDeviceMetricsOverride", session, **screen)
        overflow = await devtools.evaluate(session, _OVERFLOW)
        if overflow:
            page.problems.append(
                f"scrolls sideways at {screen['width']} px: " + "; ".join(overflow)
            )
        if screenshots is not None:
            shot = screenshots / f"{path.stem}-{screen['width']}.png"
            await _screenshot(devtools, session, shot)

    for event in devtools.events[since:]:
        if event.get("sessionId") == session and event["method"] in _ERROR_EVENTS:
            error = _console_error(event)
            if error is not None:
                page.problems.append(error)
    del devtools.events[:]
    return page


def _pipes_as_fds_3_and_4(commands: int, replies: int) -> Callable[[], None]:
    """What the child runs before Chromium starts: the pipe ends onto fds 3 and 4.

    Both fds are open in the parent (four pipe ends take the lowest free numbers), so
    ``pass_fds=(3, 4)`` keeps them open in the child.
    """

    def dup() -> None:
        # Move the reply end out of the way first if it is fd 3 itself.
        source = os.dup(replies) if replies == 3 else replies
        os.dup2(commands, 3)
        os.dup2(source, 4)

    return dup


async def _drive(
    chromium: str,
    profile: str,
    log: BinaryIO,
    paths: list[Path],
    screenshots: dict[Path, Path],
) -> dict[Path, Page]:
    commands_read, commands_write = os.pipe()
    replies_read, replies_write = os.pipe()
    commands = trio.lowlevel.FdStream(commands_write)
    replies = trio.lowlevel.FdStream(replies_read)
    try:
        process = await trio.lowlevel.open_process(
            [
                chromium,
                "--headless",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                # The pages are our own files, and the sandbox needs privileges that
                # root and many containers do not have.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--no-first-run",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(3, 4),
            preexec_fn=_pipes_as_fds_3_and_4(commands_read, replies_write),
        )
    except BaseException:
        await commands.aclose()
        await replies.aclose()
        raise
    finally:
        os.close(commands_read)
        os.close(replies_write)
    devtools = DevTools(commands, replies)
    pages: dict[Path, Page] = {}
    try:
        with trio.fail_after(BROWSE_DEADLINE):
            target = await devtools.call("Target.createTarget", url="about:blank")
            attached = await devtools.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                await devtools.call(f"{domain}.enable", session)
            for path in paths:
                with trio.fail_after(PAGE_DEADLINE):
                    pages[path] = await _open(devtools, session, path, screenshots.get(path))
            await devtools.call("Browser.close")
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
        await commands.aclose()
        await replies.aclose()
    return pages


def _browse(chromium: str, paths: list[Path], screenshots: dict[Path, Path]) -> dict[Path, Page]:
    """Open every page in *paths* in a fresh headless Chromium and check it.

    Screenshots of the pages in *screenshots* go to the directory it maps them to.
    Raises DevToolsError, with what Chromium printed, when the browser fails.
    """
    with tempfile.TemporaryDirectory() as profile, (Path(profile) / "log").open("wb+") as log:
        try:
            return trio.run(_drive, chromium, profile, log, paths, screenshots)
        except (DevToolsError, trio.TooSlowError) as error:
            log.seek(0)
            output = log.read().decode(errors="replace")[-3000:]
            raise DevToolsError(f"{error!r}; Chromium printed:\n{output}") from error


def _build_site() -> None:
    """Build the site as ``make docs`` does (a no-op when it is up to date)."""
    try:
        import furo  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError:
        unavailable("the documentation tools are not installed (pip install -e '.[docs]')")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", SOURCES, BUILD],
        capture_output=True,
        text=True,
        timeout=BUILD_DEADLINE,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"sphinx-build failed:\n{result.stdout}{result.stderr}"[-4000:])


def _ids_in_file(path: Path) -> set[str]:
    text = path.read_text(errors="replace")
    return set(re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", text))


def _broken_links(page: Page, root: Path, pages: dict[Path, Page]) -> list[str]:
    """The links of *page* into the site under *root* that lead to no file or no anchor
    (the anchors of the *pages* opened in the browser, of other files as written)."""
    broken = []
    for href, url in page.links:
        if urlsplit(url).scheme != "file":
            continue  # http(s) and mailto links leave the site; nothing checks them here
        address, fragment = urldefrag(url)
        target = Path(unquote(urlsplit(address).path))
        if not target.is_relative_to(root) or not target.is_file():
            broken.append(f"link {href!r} leads to no file of the site")
        elif fragment and target.suffix != ".html":
            broken.append(f"link {href!r} has an anchor into a file that is no page")
        elif fragment:
            shown = pages.get(target)
            ids = shown.ids if shown is not None else _ids_in_file(target)
            if unquote(fragment) not in ids:
                broken.append(f"link {href!r}: {target.name} has no anchor {unquote(fragment)!r}")
    return sorted(set(broken))


def _problems(pages: dict[Path, Page], root: Path) -> dict[str, list[str]]:
    """Every page's problems, its broken links included, by page name."""
    return {
        path.stem: page.problems + _broken_links(page, root, pages) for path, page in pages.items()
    }


@pytest.fixture(scope="module")
def site() -> dict[str, list[str]]:
    """The problems Chromium found on each page of the freshly built site."""
    chromium = require_tool("chromium")
    _build_site()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    root = BUILD.resolve()
    paths = [root / f"{name}.html" for name in PAGES if (root / f"{name}.html").is_file()]
    shown = {root / f"{name}.html": SCREENSHOTS for name in SHOWN}
    return _problems(_browse(chromium, paths, shown), root)


@pytest.mark.parametrize("name", PAGES)
def test_page_in_browser(site: dict[str, list[str]], name: str) -> None:
    assert name in site, f"{name}.html was not built"
    assert not site[name], f"{name}.html:\n" + "\n".join(site[name])


def test_every_page_is_checked(site: dict[str, list[str]]) -> None:
    built = {path.stem for path in BUILD.glob("*.html")}
    assert built <= set(PAGES), f"pages no test opens: {sorted(built - set(PAGES))}"


_FAULTY = """<!doctype html>
<html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<style>.contents::before { content: "ERROR: this box is drawn by the stylesheet"; }</style>
</head><body>
<nav class="contents">On this page</nav>
<div class="system-message">Unknown directive type</div>
<img src="missing.png" alt="">
<a href="nowhere.html">a missing page</a> <a href="#absent">a missing anchor</a>
<a href="clean.html#absent">a missing anchor elsewhere</a>
<a href="clean.html#present">a good link</a> <a href="http://127.0.0.1:9/">not followed</a>
<div style="width: 1000px">wider than a phone</div>
<script>console.error("logged on purpose"); throw new Error("thrown on purpose");</script>
</body></html>
"""

_CLEAN = """<!doctype html>
<html><head><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><p id="present">A chart: <img src="chart.png" alt="chart" style="max-width: 100%"></p>
<div style="overflow-x: auto"><table><tr><td style="min-width: 1000px">wide, but
scrolls in its own box</td></tr></table></div>
<a href="faulty.html">back</a> <a href="#">top</a> <a href="chart.png">the chart</a>
</body></html>
"""


def test_the_check_finds_each_kind_of_fault(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    (tmp_path / "faulty.html").write_text(_FAULTY)
    (tmp_path / "clean.html").write_text(_CLEAN)
    (tmp_path / "chart.png").write_bytes((SOURCES / "_static" / "performance.png").read_bytes())
    paths = [tmp_path / "faulty.html", tmp_path / "clean.html"]

    pages = _browse(chromium, paths, {tmp_path / "clean.html": tmp_path})
    problems = _problems(pages, tmp_path)

    assert problems["clean"] == []
    assert {path.name for path in tmp_path.glob("clean-*.png")} == {
        f"clean-{DESKTOP['width']}.png",
        f"clean-{PHONE['width']}.png",
    }
    found = "\n".join(problems["faulty"])
    for expected in [
        'nav.contents shows ::before: "ERROR: this box is drawn by the stylesheet"',
        "div.system-message: Unknown directive type",
        "image does not load: missing.png",
        "JavaScript exception: Error: thrown on purpose",
        "console.error: logged on purpose",
        "Failed to load resource",
        "link 'nowhere.html' leads to no file of the site",
        "link '#absent': faulty.html has no anchor 'absent'",
        "link 'clean.html#absent': clean.html has no anchor 'absent'",
        f"scrolls sideways at {PHONE['width']} px: div reaches 10",
    ]:
        assert expected in found
    assert len(problems["faulty"]) == 10, found
