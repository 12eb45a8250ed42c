"""Where independent pieces of work run: here, one after the other, or as Ray tasks on a cluster.

A command given ``--ray ADDRESS`` (or run with ``RAY_ADDRESS`` set) hands its independent pieces
(the audit's folds, the shards of an embedding or of a prediction) to the Ray cluster at that
address; without it they run here. The same function runs on the same inputs either way, so the
results are the same: :func:`run_tasks` gives back the results in the order of the pieces.

The data every piece reads (the items, the labels) goes once into Ray's object store
(``ray.put``), and each task gets a reference to it, not a copy per task. Each task sets torch's
and the native pools' (BLAS, OpenMP) thread counts to the caller's (a Ray worker starts with one
thread each), so that sums are done in the same order as here: with one BLAS thread in the
workers, a logistic regression's folds on 3,000 items differed by up to 0.006 in probability
and the audit of 10,000 images flagged 1,334 items instead of 1,335.

A cluster of several machines: start a head (``ray start --head --port 6379``) and workers
(``ray start --address HEAD:6379``) on machines that have underspec installed in the same
version, then ``underspec audit ... --ray HEAD:6379``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from underspec.errors import UnderspecError

_CONNECTED: dict[str, str] = {}
"""The address this process's Ray connection was made to."""


def ray_address(option: str | None = None) -> str | None:
    """The Ray cluster to use: ``option`` (``--ray``), else ``$RAY_ADDRESS``, else none (run here)."""
    return option or os.environ.get("RAY_ADDRESS") or None


def thread_counts() -> dict[str, int]:
    """This process's thread counts: torch's and each native thread pool's (BLAS, OpenMP) by API."""
    import torch
    from threadpoolctl import threadpool_info

    counts = {"torch": torch.get_num_threads()}
    for pool in threadpool_info():
        counts[pool["user_api"]] = max(counts.get(pool["user_api"], 1), pool["num_threads"])
    return counts


def _with_threads(function: Callable, threads: dict[str, int], shared: Any, piece: Any) -> Any:
    """``function(shared, piece)`` with the caller's :func:`thread_counts` (in a Ray worker,
    which starts with one thread per pool): a sum split over other threads comes out in another
    order, and a logistic regression's folds then differ in their last digits."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads["torch"])
    with threadpool_limits({api: n for api, n in threads.items() if api != "torch"}):
        return function(shared, piece)


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once an address where nothing listens (Ray itself waits minutes before failing)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UnderspecError(f"ray {address!r}: expected HOST:PORT of a Ray head, e.g. 127.0.0.1:6379")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise UnderspecError(f"ray {address}: nothing answers there ({error}); expected the address of a "
                             "running Ray head (started by `ray start` on the head node)") from error


def connect(address: str):
    """The ``ray`` module, connected to the cluster at ``address`` (once per process)."""
    try:
        import ray
    except ImportError as error:
        raise UnderspecError(f"ray {address}: Ray is not installed; expected `pip install 'underspec[ray]'`") \
            from error
    if ray.is_initialized() and _CONNECTED.get("address") != address:
        ray.shutdown()
    if not ray.is_initialized():
        _reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            _CONNECTED["address"] = address
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise UnderspecError(f"ray {address}: no Ray cluster answers there ({error}); expected the address "
                                 "of a running Ray head (started by `ray start` on the head node)") from error
    return ray


def iter_tasks(function: Callable[[Any, Any], Any], shared: Any, pieces: Sequence[Any], *,
               address: str | None = None, progress: str | None = None) -> Iterator[tuple[int, Any]]:
    """``(index, function(shared, pieces[index]))`` for every piece, as each result arrives.

    Here, in the order of the pieces; on Ray, in the order the tasks finish. A caller that
    stores each result where it belongs (a slice of a preallocated array) never holds the list
    of results and their concatenation at the same time.

    Parameters
    ----------
    function : callable
        A module-level function ``(shared, piece) -> result`` (Ray workers import it by name).
    shared : object
        What every piece reads (put once into Ray's object store).
    pieces : sequence
        One task each.
    address : str, optional
        A Ray cluster (:func:`ray_address`); ``None`` runs here.
    progress : str, optional
        The label of a progress bar over the pieces (with its ETA); ``None``: no bar.

    Yields
    ------
    (int, object)
        The index of a piece and its result.
    """
    from tqdm.auto import tqdm

    with tqdm(total=len(pieces), desc=progress, unit="task", disable=progress is None) as bar:
        if address is None:
            for index, piece in enumerate(pieces):
                yield index, function(shared, piece)
                bar.update()
            return
        ray = connect(address)
        remote = ray.remote(_with_threads)
        reference = ray.put(shared)
        threads = thread_counts()
        futures = [remote.remote(function, threads, reference, piece) for piece in pieces]
        index_of = {future: index for index, future in enumerate(futures)}
        waiting = list(futures)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for future in done:
                yield index_of.pop(future), ray.get(future)
            bar.update(len(done))


def run_tasks(function: Callable[[Any, Any], Any], shared: Any, pieces: Sequence[Any], *,
              address: str | None = None, progress: str | None = None) -> list:
    """``[function(shared, piece) for piece in pieces]``, here or as Ray tasks at ``address``
    (parameters as :func:`iter_tasks`): the results in the order of ``pieces``."""
    results: list = [None] * len(pieces)
    for index, result in iter_tasks(function, shared, pieces, address=address, progress=progress):
        results[index] = result
    return results
