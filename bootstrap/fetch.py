"""Downloads: one pooled HTTP session, mirror failover, the cache underneath."""
from __future__ import annotations

import email.utils
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import requests
from requests.adapters import HTTPAdapter

from bootstrap.cache import CHUNK, DIGEST, Cache
from bootstrap.errors import Die, die

TIMEOUT = (15, 60)


Check = Callable[[bytes, str], None]


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class Wanted:
    """A file the signed index promised: where it is and what it must hash to."""
    relpath: str
    sha256: str
    size: int

    def __post_init__(self) -> None:
        # both come from a mirror's index and become paths: in the cache, on the mirror
        if not DIGEST.fullmatch(self.sha256):
            raise Die(f"{self.relpath}: the index promises {self.sha256!r}, which is not "
                      "a SHA256 digest")
        if self.relpath.startswith("/") or ".." in self.relpath.split("/"):
            raise Die(f"refusing the path {self.relpath!r} from the index")


class Fetcher:
    def __init__(self, mirrors: Sequence[str], cache: Cache, jobs: int = 4) -> None:
        if not mirrors:
            die("no mirror to fetch from")
        self.mirrors = [m.rstrip("/") for m in mirrors]
        self.active = 0  # the mirror that last answered; later files come from it first
        self.cache = cache
        self.jobs = max(1, jobs)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(4, self.jobs))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "rootstrap/0.1"
        self._lock = threading.Lock()
        self.downloads = 0

    @property
    def mirror(self) -> str:
        return self.mirrors[self.active]

    def _order(self) -> list[int]:
        return [self.active] + [i for i in range(len(self.mirrors)) if i != self.active]

    def _get(self, url: str, headers: Optional[dict[str, str]] = None) -> requests.Response:
        return self.session.get(url, headers=headers or {}, timeout=TIMEOUT, stream=True)

    def index(self, relpath: str, check: Optional[Check] = None) -> tuple[bytes, str]:
        """An index file by path under the mirror, revalidated against the cache.

        check(data, mirror) judges every answer, fresh or revalidated, and a fresh
        one before it is cached (it dies to refuse it), so the cache only ever holds
        what passed and the caller need not check again. Raises NotFound when every
        mirror answers 404 (the caller may fall back)."""
        errors: list[str] = []
        missing = 0
        for i in self._order():
            url = mirror_join(self.mirrors[i], relpath)
            validators = self.cache.index_validators(url)
            headers = {}
            if "etag" in validators:
                headers["If-None-Match"] = validators["etag"]
            if "last_modified" in validators:
                headers["If-Modified-Since"] = validators["last_modified"]
            try:
                with self._get(url, headers) as r:
                    if r.status_code == 304:
                        data = self.cache.index_data(url)
                        if check:
                            check(data, self.mirrors[i])
                        self.active = i
                        return data, self.mirrors[i]
                    if r.status_code == 404:
                        missing += 1
                        errors.append(f"{url}: not found")
                        continue
                    r.raise_for_status()
                    data = r.content
                    got = {}
                    if r.headers.get("ETag"):
                        got["etag"] = r.headers["ETag"]
                    if _past(r.headers.get("Last-Modified")):
                        got["last_modified"] = r.headers["Last-Modified"]
            except requests.RequestException as e:
                errors.append(f"{url}: {_reason(e)}")
                continue
            if check:
                check(data, self.mirrors[i])
            self.cache.store_index(url, data, got)
            self.active = i
            return data, self.mirrors[i]
        if missing == len(self.mirrors):
            raise NotFound(relpath)
        die(f"cannot fetch {relpath}: " + "; ".join(errors))

    def signature(self, want: Wanted, check: Check) -> None:
        """Check the detached signature published beside a wanted file (relpath +
        .sig) with check(signature, mirror); keep it in the cache once it passed."""
        cached = self.cache.signature(want.sha256)
        if cached is not None:
            check(cached, "the cache")
            return
        try:
            data, mirror = self.index(f"{want.relpath}.sig")
        except NotFound:
            die(f"{want.relpath} has no signature on {self.mirror} "
                f"({want.relpath}.sig not found) and the index carries none")
        check(data, mirror)
        self.cache.store_signature(want.sha256, data)

    def hashed(self, want: Wanted) -> Path:
        """A file whose SHA256 the signed index promised: from cache, else downloaded."""
        cached = self.cache.lookup(want.sha256)
        if cached:
            return cached
        return self._download(want, lambda n: None)

    def _download(self, want: Wanted, progress: Callable[[int], None]) -> Path:
        errors: list[str] = []
        for i in self._order():
            url = mirror_join(self.mirrors[i], want.relpath)
            try:
                with self._get(url) as r:
                    r.raise_for_status()

                    def chunks() -> Iterator[bytes]:
                        for chunk in r.iter_content(CHUNK):
                            progress(len(chunk))
                            yield chunk

                    try:
                        path = self.cache.store(want.sha256, chunks())
                    except ValueError as e:
                        die(f"{want.relpath} from {self.mirrors[i]}: SHA256 {e} does not match "
                            f"{want.sha256} promised by the signed index")
            except requests.RequestException as e:
                errors.append(f"{url}: {_reason(e)}")
                continue
            with self._lock:
                self.downloads += 1
            return path
        die(f"cannot fetch {want.relpath}: " + "; ".join(errors))

    def many(self, wants: Sequence[Wanted], progress: Callable[[int], None]) -> list[Path]:
        """Every wanted file, cached ones checked, missing ones fetched in parallel."""
        self.cache.hold(len(wants))
        paths: dict[int, Path] = {}
        todo: list[int] = []
        for n, want in enumerate(wants):
            cached = self.cache.lookup(want.sha256)
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


def mirror_join(mirror: str, relpath: str) -> str:
    """The URL of relpath on a mirror. A mirror holding `$repo` is a per-repository
    template, as pacman's Server lines are: relpath's first component names the
    repository and the rest is the path under it."""
    if "$repo" in mirror:
        repo, _, rest = relpath.partition("/")
        return f"{mirror.replace('$repo', repo)}/{rest}"
    return f"{mirror}/{relpath}"


def _reason(e: requests.RequestException) -> str:
    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code}"
    if isinstance(e, requests.ConnectionError):
        return "connection failed"
    if isinstance(e, requests.Timeout):
        return "timed out"
    return type(e).__name__
