"""One Lambda execution environment: runs a function's handler in its own process.

Started by ``localcloud.lambda_.runtime`` as ``python <this file> --task-root DIR`` with the function's
environment (``_HANDLER``, ``AWS_*``, its own variables). Standard library only, so that the
function sees nothing of localcloud and nothing of moto on its import path.

Protocol (JSON lines): the parent writes requests on the worker's stdin and reads answers on the
worker's *original* stdout. At start-up the worker keeps private duplicates of fds 0 and 1, then
points fd 0 at /dev/null and fd 1 at fd 2, so whatever the handler prints (``print``, ``logging``,
C extensions writing to fd 1) goes to stderr - the log stream - and can never corrupt the protocol.

    worker -> parent  {"type": "ready", "init_ms": 12.3, "error": null | {errorMessage, errorType, ...}}
    parent -> worker  {"type": "invoke", "request_id": "...", "event": {...}, "deadline_ms": 1700000000000,
                       "invoked_function_arn": "...", "trace_id": "Root=1-...;Parent=...;Sampled=0"}
    worker -> parent  {"type": "result", "request_id": "...", "ok": true, "payload": "<json text>",
                       "duration_ms": 1.2, "max_memory_mb": 30}
                      {"type": "result", "request_id": "...", "ok": false, "error": {...}, ...}

A handler that exits the process (``os._exit``, ``sys.exit``) or a timeout is detected by the parent
(end of file on the protocol pipe, or no answer before the deadline); the parent then replaces the
worker.
"""

from __future__ import annotations

import decimal
import importlib
import importlib.machinery
import io
import json
import logging
import os
import sys
import time
import traceback
from typing import Any

try:  # not available on Windows
    import resource
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]


def _take_protocol_fds() -> tuple[io.BufferedReader, io.BufferedWriter]:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    # sys.stdout keeps writing to fd 1, which is now the log stream.
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb"), encoding="utf-8", line_buffering=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb"), encoding="utf-8", line_buffering=True)
    sys.stdin = io.TextIOWrapper(os.fdopen(0, "rb"), encoding="utf-8")
    return proto_in, proto_out  # type: ignore[return-value]


class LambdaContext:
    """The context object that the Python runtime passes to a handler (awslambdaric's shape)."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, as in the real runtime (it reads the environment variable).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
            f"function_version={self.function_version},memory_limit_in_mb={self.memory_limit_in_mb}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _RequestIdFilter.request_id
        return True


def _setup_logging() -> None:
    """Install the runtime's root handler, as AWS does (so ``logging.basicConfig`` is a no-op)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.getLogger().addHandler(handler)


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(
    exc: BaseException,
    error_type: str | None = None,
    request_id: str | None = None,
    trace: list[str] | None = None,
) -> dict[str, Any]:
    """Lambda's error object; ``trace`` replaces the exception's own frames (init errors)."""
    frames = trace if trace is not None else traceback.format_tb(exc.__traceback__)
    out: dict[str, Any] = {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": [line.rstrip("\n") for line in frames],
    }
    if request_id:
        out["requestId"] = request_id
    return out


def _max_memory_mb() -> int | None:
    # VmHWM is this process's peak RSS since exec; ru_maxrss would include the parent's before exec.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(int(line.split()[1]) / 1024)
    except (OSError, ValueError):
        pass
    if resource is None:  # pragma: no cover
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss / 1024) if sys.platform != "darwin" else int(rss / 1024 / 1024)


class _ForeignExtensionFinder:
    """Last on ``sys.meta_path``, so only reached when no real finder could import a module. If the
    function's code holds a compiled extension for that module built for another Python or platform
    (``x.cpython-312-aarch64-linux-gnu.so`` while this worker runs CPython 3.11 on x86_64), Python would
    say only "No module named ..."; this finder says which file it is and why it cannot load.

    The local cloud runs functions on the host's Python, whatever the function's runtime: pure-Python
    packages behave as on AWS, compiled ones only when built for this interpreter. AWS would load an
    extension built for the function's runtime, so the package is not refused at upload: the import
    fails where and when it would be needed (init or invocation), with a message that says why.

    A plain class with ``find_spec`` (the meta path protocol): subclassing ``importlib.abc`` would
    import ``importlib.resources`` and add some 50 ms to every cold start.
    """

    def __init__(self, task_root: str) -> None:
        self.task_root = os.path.abspath(task_root)
        self.loadable = tuple(importlib.machinery.EXTENSION_SUFFIXES)
        host = self.loadable[0] if self.loadable else ".so"
        self.host_tag = host.strip(".").rsplit(".", 1)[0] or sys.implementation.cache_tag

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        leaf = fullname.rpartition(".")[2]
        for directory in list(path) if path is not None else [self.task_root]:
            directory = os.path.abspath(directory or ".")
            if not directory.startswith(self.task_root):
                continue
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            for name in names:
                suffix = name[len(leaf) :]
                if not name.startswith(leaf + ".") or not name.endswith((".so", ".pyd")):
                    continue
                if suffix in self.loadable:
                    continue  # loadable here: the real finders would have found it
                built_for = suffix.strip(".").rsplit(".", 1)[0] or "another platform"
                where = os.path.relpath(os.path.join(directory, name), self.task_root)
                raise ModuleNotFoundError(
                    f"No module named '{fullname}': {where} is a compiled extension built for {built_for}, "
                    f"and the local cloud runs functions on {self.host_tag} (the host's Python, not the "
                    "function's runtime), which cannot load extensions built for another Python or platform. "
                    "Use pure-Python packages, or a build of the package for this interpreter, to run it "
                    "locally.",
                    name=fullname,
                )
        return None


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_WRITE_EVENTS = {
    "os.mkdir": (0,),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.rename": (0, 1),
    "os.chmod": (0,),
    "os.symlink": (1,),
    "os.link": (1,),
    "os.truncate": (0,),
    "os.utime": (0,),
}


def _guard_read_only(*roots: str) -> None:
    """Make the code directory and the runtime's libraries read-only for the function, as /var/task
    and /var/runtime are on AWS: a write under them raises OSError(EROFS). An audit hook rather than
    file modes, which do not stop root; Python's bytecode cache (``__pycache__``) is let through, it
    is the interpreter's, not the function's."""
    import errno

    folders = tuple(os.path.abspath(root) for root in roots)
    prefixes = tuple(folder + os.sep for folder in folders)

    def inside(path: Any) -> str | None:
        if path is None or isinstance(path, int):
            return None
        text = os.path.abspath(os.fsdecode(path))
        if (text in folders or text.startswith(prefixes)) and "__pycache__" not in text:
            return text
        return None

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            if len(args) < 3 or not (int(args[2] or 0) & _WRITE_FLAGS):
                return
            positions: tuple[int, ...] = (0,)
        elif event in _WRITE_EVENTS:
            positions = _WRITE_EVENTS[event]
        else:
            return
        for position in positions:
            path = inside(args[position]) if position < len(args) else None
            if path is not None:
                raise OSError(errno.EROFS, "Read-only file system", path)

    sys.addaudithook(hook)


def _no_space(exc: OSError, name: Any = None) -> OSError:
    """ENOSPC for the EFBIG that RLIMIT_FSIZE gives (``_cap_tmp``); any other error unchanged."""
    import errno

    if exc.errno != errno.EFBIG:
        return exc
    filename = exc.filename if exc.filename is not None else name
    if isinstance(filename, int):
        filename = None
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([filename] if filename is not None else []))
    full.__traceback__ = exc.__traceback__
    return full


class _CappedFileIO(io.FileIO):
    """A raw file whose writes past the ``/tmp`` cap fail as a full file system's do (ENOSPC).

    The buffered and text layers above it are the standard C classes: they call ``write`` of their
    raw file by name, so a buffered write that fails at flush or close fails with ENOSPC too."""

    def write(self, data: Any) -> int | None:  # type: ignore[override]
        try:
            return super().write(data)
        except OSError as exc:
            raise _no_space(exc, self.name) from None


_WRITING_MODES = frozenset("wax+")


def _open_capped(real_open: Any) -> Any:
    """``open`` (and ``io.open``) building files on ``_CappedFileIO`` when opened for writing, as
    ``io.open`` builds them on ``FileIO`` (same buffering, same classes, same ``mode``)."""

    def open_(
        file: Any,
        mode: str = "r",
        buffering: int = -1,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
        closefd: bool = True,
        opener: Any = None,
    ) -> Any:
        if (
            not isinstance(mode, str)
            or not set(mode) & _WRITING_MODES
            or set(mode) - set("rwxabt+")
            or len(set(mode)) != len(mode)
            or ("b" in mode and "t" in mode)
        ):
            return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        binary = "b" in mode
        if binary and (encoding is not None or errors is not None or newline is not None):
            return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        raw = _CappedFileIO(file, mode.replace("t", "").replace("b", ""), closefd, opener=opener)
        try:
            line_buffering = buffering == 1 and not binary
            if buffering == 1 or buffering < 0:
                size = getattr(raw, "_blksize", 0)
                buffering = size if size > 1 else io.DEFAULT_BUFFER_SIZE
            if buffering == 0:
                if binary:
                    return raw
                raise ValueError("can't have unbuffered text I/O")
            buffered_class = io.BufferedRandom if "+" in mode else io.BufferedWriter
            buffer = buffered_class(raw, buffering)
            if binary:
                return buffer
            text = io.TextIOWrapper(buffer, io.text_encoding(encoding), errors, newline, line_buffering)
            text.mode = mode  # type: ignore[misc]
            return text
        except BaseException:
            raw.close()
            raise

    return open_


def _report_full_tmp_as_enospc() -> None:
    """Make the EFBIG of a write past the cap read as ENOSPC "No space left on device", Lambda's full
    ``/tmp``: files opened for writing by ``open``/``io.open`` (and so ``pathlib``, ``tempfile``,
    ``shutil``, ``os.fdopen``) sit on ``_CappedFileIO``, and ``os.write`` translates it too."""
    import builtins

    capped = _open_capped(io.open)
    builtins.open = capped
    io.open = capped
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        try:
            return real_write(fd, data)
        except OSError as exc:
            raise _no_space(exc) from None

    os.write = write


def _cap_tmp(tmp_dir: str, limit: int) -> None:
    """Cap what the function may write under ``/tmp`` (``TMPDIR``) at the function's EphemeralStorage.

    Lambda's ``/tmp`` is a file system of that size: a write past it fails. A plain process cannot
    mount one without privileges that CI may lack (tmpfs, loop devices, FUSE, user namespaces), so
    the cap is the kernel's per-process file size limit (RLIMIT_FSIZE: a write that would take a
    file past it fails, exactly at that byte, at no cost per write), re-computed by an audit hook
    whenever the function opens a file under ``/tmp`` for writing or removes one: the limit is the
    cap minus what the *other* files under ``/tmp`` hold. Python ignores SIGXFSZ, so the write fails
    with errno EFBIG "File too large", where Lambda's full file system answers ENOSPC "No space left
    on device" (code that tests ``errno`` sees the difference): see below.

    Not caught: several files open at once that grow together (each may grow to the limit computed
    when the last one was opened), writes through ``mmap``, files written by subprocesses or C code
    after the limit changed, and space counted in blocks rather than bytes (sparse files count at
    their size; directories count nothing). Files outside ``/tmp`` (which Lambda keeps read-only)
    share the limit, so Python's bytecode cache is not written when ``/tmp`` is full.

    The kernel's refusal is EFBIG; ``_report_full_tmp_as_enospc`` turns it into Lambda's ENOSPC for
    Python's file objects and ``os.write`` (C extensions writing with their own ``write(2)`` still
    see EFBIG).
    """
    if resource is None or limit <= 0:  # pragma: no cover - no RLIMIT_FSIZE on this platform
        return
    root = os.path.abspath(tmp_dir)
    prefix = root + os.sep
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    state: dict[str, str | None] = {"current": None}

    def size_of_others(*excluded: str) -> int:
        total = 0
        pending = [root]
        while pending:
            try:
                entries = list(os.scandir(pending.pop()))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.path not in excluded and entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
        return total

    def set_limit(*excluded: str) -> None:
        budget = max(0, limit - size_of_others(*excluded))
        if hard != resource.RLIM_INFINITY:
            budget = min(budget, hard)
        resource.setrlimit(resource.RLIMIT_FSIZE, (budget, hard))

    def under_tmp(path: Any) -> str | None:
        if path is None or isinstance(path, int):
            return None
        text = os.path.abspath(os.fsdecode(path))
        return text if text.startswith(prefix) else None

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            if len(args) < 3 or not (int(args[2] or 0) & _WRITE_FLAGS):
                return
            path = under_tmp(args[0])
            if path is not None:
                state["current"] = path
                set_limit(path)
        elif event == "os.remove":
            path = under_tmp(args[0]) if args else None
            if path is not None:
                if state["current"] == path:
                    state["current"] = None
                set_limit(path, *([state["current"]] if state["current"] else []))

    set_limit()
    sys.addaudithook(hook)
    _report_full_tmp_as_enospc()


def _function_frames(exc: BaseException) -> list[str]:
    """The frames of an exception raised while the handler's module was imported, without this
    file's own leading frames: the Python runtime drops its bootstrap's frames the same way
    (awslambdaric ``build_fault_result``), so a trace starts where the runtime called the import."""
    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.abspath(__file__)
    while frames and os.path.abspath(frames[0].filename) == here:
        frames.pop(0)
    return traceback.format_list(frames)


def _load_handler() -> Any:
    spec = os.environ.get("_HANDLER", "")
    if "." not in spec:
        raise ValueError(f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    module_name, func_name = spec.rsplit(".", 1)
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _InitError(
            f"Unable to import module '{module_name}': {exc}", "Runtime.ImportModuleError"
        ) from exc
    except SyntaxError as exc:
        # The runtime's trace of a syntax error is the offending line of the function's file.
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {(exc.text or "").strip()}\n']
        raise _InitError(
            f"Syntax error in module '{module_name}': {exc}", "Runtime.UserCodeSyntaxError", trace
        ) from exc
    try:
        return getattr(module, func_name)
    except AttributeError as exc:
        raise _InitError(
            f"Handler '{func_name}' missing on module '{module_name}'", "Runtime.HandlerNotFound"
        ) from exc


class _InitError(Exception):
    """The handler could not be loaded. ``trace`` is what Lambda reports as its stack trace: nothing
    for a module that cannot be imported or a missing handler (the runtime raises these itself, so
    no frame of the function is involved; its log shows "Traceback (most recent call last):" and no
    frame), the offending line for a syntax error. Never this file's own frames."""

    def __init__(self, message: str, error_type: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.trace = trace or []


def _send(out: io.BufferedWriter, message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode("utf-8") + b"\n")
    out.flush()


def main(argv: list[str]) -> int:
    proto_in, proto_out = _take_protocol_fds()
    _isolate(argv)
    started = time.perf_counter()
    handler = _init(proto_out)
    if handler is None:
        return 1
    init_ms = (time.perf_counter() - started) * 1000
    _send(proto_out, {"type": "ready", "init_ms": round(init_ms, 3), "error": None})

    init_report = f"\tInit Duration: {init_ms:.2f} ms"
    for line in proto_in:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("type") != "invoke":
            continue
        _send(proto_out, _invoke(handler, request, init_report))
        init_report = ""
    return 0


def _isolate(argv: list[str]) -> None:
    """The worker's view of the world as Lambda's: import path, read-only code, capped /tmp, cwd."""
    task_root = argv[argv.index("--task-root") + 1] if "--task-root" in argv else os.getcwd()
    libraries = argv[argv.index("--runtime-libs") + 1] if "--runtime-libs" in argv else None
    # The function's code comes first on the import path, as /var/task does on AWS, then the runtime's
    # libraries (/var/runtime), then the standard library; this file's own directory (Python puts
    # the script's directory first unless started with -I) must not be visible to the function.
    here = os.path.dirname(os.path.abspath(__file__))
    standard = [p for p in sys.path if p and os.path.abspath(p) != here]
    sys.path[:] = [task_root, *([libraries] if libraries else []), *standard]
    sys.meta_path.append(_ForeignExtensionFinder(task_root))
    _guard_read_only(task_root, *([libraries] if libraries else []))
    if "--tmp-limit" in argv and os.environ.get("TMPDIR"):
        _cap_tmp(os.environ["TMPDIR"], int(argv[argv.index("--tmp-limit") + 1]))
    os.chdir(task_root)
    _setup_logging()


def _init(proto_out: io.BufferedWriter) -> Any | None:
    """The handler, imported; None (after reporting the init error as Lambda does) when it fails."""
    try:
        return _load_handler()
    except _InitError as exc:
        shown = "".join(exc.trace)
        print(
            f"[ERROR] {exc.error_type}: {exc}\nTraceback (most recent call last):\n{shown}",
            file=sys.stderr,
            end="",
            flush=True,
        )
        _send(
            proto_out,
            {"type": "ready", "init_ms": 0.0, "error": _error(exc, exc.error_type, trace=exc.trace)},
        )
        return None
    except Exception as exc:
        trace = _function_frames(exc)
        print(
            f"[ERROR] {type(exc).__name__}: {exc}\nTraceback (most recent call last):\n{''.join(trace)}",
            file=sys.stderr,
            end="",
            flush=True,
        )
        _send(proto_out, {"type": "ready", "init_ms": 0.0, "error": _error(exc, trace=trace)})
        return None


def _invoke(handler: Any, request: dict[str, Any], init_report: str) -> dict[str, Any]:
    """One invocation: START, the handler's result (or error), END and REPORT; the answer to send."""
    request_id = request["request_id"]
    _RequestIdFilter.request_id = request_id
    # Lambda sets the trace header per invocation (a reserved variable of the environment).
    if request.get("trace_id"):
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    context = LambdaContext(request_id, request["deadline_ms"], request.get("invoked_function_arn", ""))
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    print(f"START RequestId: {request_id} Version: {version}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    answer: dict[str, Any] = {"type": "result", "request_id": request_id}
    try:
        result = handler(request["event"], context)
        try:
            answer["payload"] = json.dumps(result, default=_json_default)
            answer["ok"] = True
        except (TypeError, ValueError) as exc:
            answer["ok"] = False
            answer["error"] = _error(
                Exception(f"Unable to marshal response: {exc}"), "Runtime.MarshalError", request_id
            )
    except Exception as exc:
        answer["ok"] = False
        answer["error"] = _error(exc, request_id=request_id)
        sys.stdout.flush()
        print(
            f"[ERROR] {type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc)),
            file=sys.stderr,
            end="",
            flush=True,
        )
    duration_ms = (time.perf_counter() - t0) * 1000
    memory = _max_memory_mb()
    sys.stdout.flush()
    print(f"END RequestId: {request_id}", file=sys.stderr, flush=True)
    print(
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, int(duration_ms + 0.999))} ms\t"
        f"Memory Size: {context.memory_limit_in_mb} MB\tMax Memory Used: {memory} MB{init_report}",
        file=sys.stderr,
        flush=True,
    )
    answer["duration_ms"] = round(duration_ms, 3)
    answer["max_memory_mb"] = memory
    _RequestIdFilter.request_id = ""
    return answer


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
