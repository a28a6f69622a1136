"""Downloads: one pooled HTTP session with retries, mirror failover, the cache
underneath."""
from __future__ import annotations

import email.utils
import socket
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bootstrap.cache import CHUNK, Cache, Mismatch
from bootstrap.digest import Covers, Digest
from bootstrap.errors import Die, die

# seconds to connect, and that a mirror may stay silent (--timeout) before the
# request is retried and then the next mirror asked
CONNECT_TIMEOUT = 15
READ_TIMEOUT = 60
# a body cut off halfway is fetched again this many times from the same mirror
# before the next mirror is tried (urllib3's Retry covers connecting and headers)
BODY_ATTEMPTS = 3

Check = Callable[[bytes, "Mirror"], None]
SignedCheck = Callable[[bytes, Optional[bytes], "Mirror"], None]


class NotFound(Exception):
    pass


class Mirror:
    """A mirror as the user gave it; url() says where a file of the index lies on it.
    Families whose mirrors are templates (pacman's $repo) subclass it."""

    def __init__(self, base: str) -> None:
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            die(f"mirror '{base}' is not an http(s) URL")
        self.base = base.rstrip("/")

    def url(self, relpath: str) -> str:
        return f"{self.base}/{relpath}"

    def __str__(self) -> str:
        return self.base


@dataclass(frozen=True)
class Wanted:
    """A file the signed index promised: where it is and what it must hash to."""
    relpath: str
    digest: Digest
    size: int
    covers: Optional[Covers] = None    # the part digest is of, when not the whole file
    # where the file is, when the index decided it (mirrors a metalink named, best
    # first), instead of relpath under the build's mirrors
    urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # relpath comes from a mirror's index and becomes a URL path
        if self.relpath.startswith("/") or ".." in self.relpath.split("/"):
            raise Die(f"refusing the path {self.relpath!r} from the index")


@dataclass
class _Answer:
    data: bytes
    validators: dict[str, str]
    fresh: bool       # downloaded now (else the cached copy, revalidated)
    url: str


class _Failed(Exception):
    """A mirror that did not answer usefully (the reason is the message)."""


def _session(jobs: int) -> requests.Session:
    retry = Retry(total=4, connect=3, read=3, status=3, backoff_factor=0.25,
                  backoff_jitter=0.25,
                  status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False)
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(4, jobs), max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "rootstrap/0.1"
    return session


class Fetcher:
    def __init__(self, mirrors: Sequence[Mirror], cache: Cache, jobs: int = 4,
                 timeout: float = READ_TIMEOUT) -> None:
        self.mirrors = list(mirrors)
        self.timeout = timeout
        self.active = 0  # the mirror that last answered; later files come from it first
        self.cache = cache
        self.jobs = max(1, jobs)
        self.session = _session(self.jobs)
        self._lock = threading.Lock()
        self.downloads = 0

    @property
    def mirror(self) -> Mirror:
        return self.mirrors[self.active]

    def found(self, mirror: Mirror) -> None:
        """A mirror the index led to (a metalink's), when the build named none:
        what messages and the tree's sources then name."""
        if not self.mirrors:
            self.mirrors.append(mirror)

    def _order(self) -> list[int]:
        return [self.active] + [i for i in range(len(self.mirrors)) if i != self.active]

    def _get(self, url: str, headers: Optional[dict[str, str]] = None) -> requests.Response:
        return self.session.get(url, headers=headers or {}, stream=True,
                                timeout=(min(CONNECT_TIMEOUT, self.timeout), self.timeout))

    def _index_answer(self, mirror: Mirror, relpath: str) -> Optional[_Answer]:
        """relpath from mirror, revalidated against the cache; None when the mirror
        says it has no such file."""
        url = mirror.url(relpath)
        validators = self.cache.index_validators(url)
        headers = {}
        if "etag" in validators:
            headers["If-None-Match"] = validators["etag"]
        if "last_modified" in validators:
            headers["If-Modified-Since"] = validators["last_modified"]
        try:
            with self._get(url, headers) as r:
                if r.status_code == 304 and validators:
                    return _Answer(self.cache.index_data(url), validators, False, url)
                if r.status_code == 404:
                    return None
                r.raise_for_status()
                data = r.content
                got = {}
                if r.headers.get("ETag"):
                    got["etag"] = r.headers["ETag"]
                if _past(r.headers.get("Last-Modified")):
                    got["last_modified"] = r.headers["Last-Modified"]
                return _Answer(data, got, True, url)
        except (requests.RequestException, OSError) as e:
            raise _Failed(f"{url}: {_reason(e)}") from None

    def index(self, relpath: str, check: Optional[Check] = None,
              keep: bool = True) -> tuple[bytes, Mirror]:
        """An index file by path under the mirror, revalidated against the cache.

        check(data, mirror) judges every answer, fresh or revalidated, and a fresh
        one before it is cached (it dies to refuse it), so the cache only ever holds
        what passed and the caller need not check again (keep=False: not cached at
        all). Raises NotFound when every mirror answers 404 (the caller may fall
        back)."""
        def judge(data: bytes, sig: Optional[bytes], mirror: Mirror) -> None:
            if check:
                check(data, mirror)

        data, _, mirror = self._pair(relpath, None, judge, True, keep)
        return data, mirror

    def signed_index(self, relpath: str, sigpath: str, check: SignedCheck,
                     optional: bool = False) -> tuple[bytes, Optional[bytes], Mirror]:
        """An index file and its detached signature, both from one mirror.

        check(data, signature, mirror) judges them (signature None where the mirror
        has none and optional allows that); only then is either cached. Raises
        NotFound when no mirror has the file (or, unless optional, its signature)."""
        return self._pair(relpath, sigpath, check, optional, True)

    def _pair(self, relpath: str, sigpath: Optional[str], check: SignedCheck,
              optional: bool, keep: bool) -> tuple[bytes, Optional[bytes], Mirror]:
        errors: list[str] = []
        missing = 0
        for i in self._order():
            mirror = self.mirrors[i]
            try:
                sig = self._index_answer(mirror, sigpath) if sigpath else None
                if sigpath and sig is None and not optional:
                    missing += 1
                    errors.append(f"{mirror.url(sigpath)}: not found")
                    continue
                answer = self._index_answer(mirror, relpath)
            except _Failed as e:
                errors.append(str(e))
                continue
            if answer is None:
                missing += 1
                errors.append(f"{mirror.url(relpath)}: not found")
                continue
            check(answer.data, sig.data if sig else None, mirror)
            for kept in (answer, sig) if keep else ():
                if kept and kept.fresh:
                    self.cache.store_index(kept.url, kept.data, kept.validators)
            self.active = i
            return answer.data, sig.data if sig else None, mirror
        if missing == len(self.mirrors):
            raise NotFound(relpath)
        die(f"cannot fetch {relpath}: " + "; ".join(errors), file=relpath,
            mirror=str(self.mirror))

    def index_at(self, urls: Sequence[str], check: Optional[Check] = None
                 ) -> tuple[bytes, Mirror]:
        """An index file at the first of urls that answers (and passes check),
        revalidated and cached as index() does; the Mirror is its folder."""
        errors: list[str] = []
        for url in urls:
            base, _, name = url.rpartition("/")
            mirror = Mirror(base)
            try:
                answer = self._index_answer(mirror, name)
            except _Failed as e:
                errors.append(str(e))
                continue
            if answer is None:
                errors.append(f"{url}: not found")
                continue
            try:
                if check:
                    check(answer.data, mirror)
            except Die as e:
                errors.append(e.message)
                continue
            if answer.fresh:
                self.cache.store_index(answer.url, answer.data, answer.validators)
            return answer.data, mirror
        name = urls[0].rpartition("/")[2] if urls else "?"
        die(f"cannot fetch {name}: " + "; ".join(errors), file=name)

    def signature(self, want: Wanted, check: Check) -> None:
        """Check the detached signature published beside a wanted file (relpath +
        .sig) with check(signature, mirror); keep it in the cache once it passed."""
        cached = self.cache.signature(want.digest)
        if cached is not None:
            check(cached, self.mirror)
            return
        sigpath = f"{want.relpath}.sig"
        try:
            data, _ = self.index(sigpath, check, keep=False)
        except NotFound:
            die(f"{want.relpath} has no signature on {self.mirror} ({sigpath} not found) "
                "and the index carries none", file=sigpath, mirror=str(self.mirror))
        self.cache.store_signature(want.digest, data)

    def hashed(self, want: Wanted) -> Path:
        """A file whose digest the signed index promised: from cache, else downloaded."""
        cached = self.cache.lookup(want.digest, want.covers)
        if cached:
            return cached
        return self._download(want, lambda n: None)

    def _places(self, want: Wanted) -> list[tuple[int, Mirror, str]]:
        if want.urls:
            return [(-1, Mirror(url.rsplit("/", 1)[0]), url) for url in want.urls]
        return [(i, self.mirrors[i], self.mirrors[i].url(want.relpath)) for i in self._order()]

    def _download(self, want: Wanted, progress: Callable[[int], None]) -> Path:
        """want's object, downloaded once however many builds and threads need it:
        whoever holds its lock fetches it, the others then find it stored."""
        with self.cache.fetching(want.digest):
            cached = self.cache.lookup(want.digest, want.covers)
            if cached:
                progress(want.size)
                return cached
            return self._download_held(want, progress)

    def _download_held(self, want: Wanted, progress: Callable[[int], None]) -> Path:
        partial = self.cache.partial(want.digest, want.covers is not None)
        counted = 0                    # of partial's bytes, what progress was told
        errors: list[str] = []
        for i, mirror, url in self._places(want):
            for attempt in range(BODY_ATTEMPTS):
                have = partial.stat().st_size if partial.exists() else 0
                try:
                    # connecting and the headers: urllib3 has retried them already
                    response = self._get(url, {"Range": f"bytes={have}-"} if have else None)
                    if response.status_code == 416 and have:
                        response.close()
                        if _whole(response) == have:   # a killed build got every byte
                            try:
                                path = self._adopted(want, partial, i)
                                progress(have - counted)
                                return path
                            except Mismatch:
                                pass
                        partial.unlink(missing_ok=True)  # not a prefix of this file
                        response = self._get(url)
                        have = 0
                    response.raise_for_status()
                except (requests.RequestException, OSError) as e:
                    errors.append(f"{url}: {_reason(e)}")
                    break
                if have and not _resumes(response, have):
                    have = 0                   # the whole file came: start over
                progress(have - counted)
                counted = have
                try:
                    with response, self.cache.open_partial(partial, bool(have)) as out:
                        for chunk in response.iter_content(CHUNK):
                            try:
                                out.write(chunk)
                            except OSError as e:
                                die(f"cannot write {want.relpath} to the cache "
                                    f"{self.cache.root}: {e.strerror}")
                            counted += len(chunk)
                            progress(len(chunk))
                except (requests.RequestException, OSError) as e:
                    # cut off: what came is kept and the rest asked for (a Range request)
                    if attempt + 1 < BODY_ATTEMPTS:
                        continue
                    errors.append(f"{url}: {_reason(e)}")
                    break
                try:
                    return self._adopted(want, partial, i)
                except Mismatch as e:
                    progress(-counted)
                    counted = 0
                    if have and attempt + 1 < BODY_ATTEMPTS:
                        continue       # joined to bytes kept from before: once whole
                    # a redirect names the host the bytes came from, not only the mirror asked
                    where = f"{mirror} (redirected to {response.url})" if response.history \
                        else str(mirror)
                    die(f"{want.relpath} from {where}: {want.digest.label} {e.got} does not "
                        f"match {want.digest.value} promised by the signed index",
                        file=want.relpath, mirror=str(mirror))
        die(f"cannot fetch {want.relpath}: " + "; ".join(errors), file=want.relpath,
            mirror=str(self.mirror))

    def _adopted(self, want: Wanted, partial: Path, mirror: int) -> Path:
        path = self.cache.adopt(want.digest, partial, want.covers)
        with self._lock:
            self.downloads += 1
            if mirror >= 0:
                self.active = mirror  # the mirror that answered is asked first now
        return path

    def many(self, wants: Sequence[Wanted], progress: Callable[[int], None]) -> list[Path]:
        """Every wanted file, cached ones checked, missing ones fetched in parallel."""
        self.cache.hold(len(wants))
        paths: dict[int, Path] = {}
        todo: list[int] = []
        for n, want in enumerate(wants):
            cached = self.cache.lookup(want.digest, want.covers)
            if cached:
                paths[n] = cached
                progress(want.size)
            else:
                todo.append(n)
        if todo:
            with ThreadPoolExecutor(self.jobs) as pool:
                futures = {n: pool.submit(self._download, wants[n], progress) for n in todo}
                for n, fut in futures.items():
                    try:
                        paths[n] = fut.result()
                    except Die:
                        for other in futures.values():
                            other.cancel()
                        raise
        return [paths[n] for n in range(len(wants))]


def _resumes(response: requests.Response, have: int) -> bool:
    """Is response the rest of a file of which the first have bytes are kept?"""
    if response.status_code != 206:
        return False
    unit, _, spec = (response.headers.get("Content-Range") or "").partition(" ")
    first = spec.split("-", 1)[0]
    return unit == "bytes" and first.isdigit() and int(first) == have


def _whole(response: requests.Response) -> int:
    """The file's size a 416 answer gives (`Content-Range: bytes */SIZE`), or -1."""
    unit, _, spec = (response.headers.get("Content-Range") or "").partition(" ")
    size = spec.removeprefix("*/")
    return int(size) if unit == "bytes" and spec.startswith("*/") and size.isdigit() else -1


def _past(http_date: Optional[str]) -> bool:
    """A Last-Modified worth revalidating with: one from the future would make an
    honest mirror answer 304 to whatever was cached with it."""
    if not http_date:
        return False
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when <= datetime.now(timezone.utc) + timedelta(minutes=5)


def _chain(e: BaseException) -> Iterator[BaseException]:
    """e and every exception it was raised from or wraps (requests and urllib3 nest
    the real cause in args and `reason`)."""
    seen: set[int] = set()
    todo: list[BaseException] = [e]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        for nxt in (cur.__cause__, cur.__context__, getattr(cur, "reason", None),
                    *[a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _reason(e: BaseException) -> str:
    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code}"
    request = getattr(e, "request", None)
    host = urllib.parse.urlsplit(request.url).hostname if request is not None and \
        request.url else None
    for cause in _chain(e):
        if isinstance(cause, socket.gaierror) or type(cause).__name__ == "NameResolutionError":
            return f"cannot resolve {host or 'the host name'}"
    if isinstance(e, requests.ConnectTimeout):
        return "cannot connect (timed out)"
    if isinstance(e, requests.Timeout) or any(
            type(c).__name__ in ("ReadTimeoutError", "TimeoutError") for c in _chain(e)):
        return "the mirror stalled (no answer within the --timeout)"
    if isinstance(e, requests.exceptions.SSLError):
        for cause in _chain(e):
            reason = getattr(cause, "verify_message", "") or getattr(cause, "reason", "")
            if isinstance(reason, str) and reason:
                return f"TLS failure: {reason.lower()}"
        return "TLS failure"
    for cause in _chain(e):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
    if isinstance(e, requests.ConnectionError):
        return "connection failed"
    return type(e).__name__
