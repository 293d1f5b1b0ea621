"""The `apprise` channel: Slack, Telegram, Discord, Teams, ntfy, Matrix and about a hundred more services
through Apprise URLs (`tgram://…`, `slack://…`, `json://…`), and the `apprise` address kind they are.

Apprise sends synchronously (requests, smtplib): every send runs in the channel's own threads, never
on the event loop, one thread per send in flight, so the dispatcher's `max_concurrency` bounds them.
Private targets are refused where Apprise resolves host names: while one of this channel's sends
runs, `socket.getaddrinfo` refuses (in that send's threads only) any answer that is not a public
address, so the refusal covers every host a service contacts, redirects included, and nothing is
sent there. Secrets in Apprise URLs (tokens, passwords) are masked wherever this module shows a URL
or a message about one: `AppriseAddress.redact`, failure reasons, and Apprise's own log records.
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
import functools
import logging
import re
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import msgspec

from clarion_channels.constraints import PositiveFloat
from clarion_channels.targets import TargetRefused, non_public_reason
from clarion_plugins import (
    AddressKind,
    Channel,
    Delivered,
    OutboundMessage,
    PermanentFailure,
    PluginUnavailable,
    TransientFailure,
    hookimpl,
)

INSTALL = "pip install 'clarion[apprise]'"

try:
    from apprise import Apprise, AppriseAsset, NotifyFormat, PersistentStoreMode
    from apprise.manager_plugins import NotificationManager
    from apprise.plugins.base import NotifyBase
except ImportError as exc:  # without the extra clarion[apprise]
    raise PluginUnavailable(
        f"the apprise channel needs the Apprise library ({exc})",
        install=INSTALL,
        channel_types=("apprise",),
    ) from exc

logger = logging.getLogger(__name__)

MAX_THREADS = 64
"""Upper bound on one channel's send threads; the channel's `max_concurrency` is the usual bound."""
MASK = "****"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_URL_PARTS = re.compile(r"[/:@?&=#,;+\s]+")
_SECRET_MIN_LENGTH = 3
_TYPO_MIN_LENGTH, _TYPO_CUTOFF = 4, 0.8
_BODY_FORMATS = {"text": NotifyFormat.TEXT, "markdown": NotifyFormat.MARKDOWN, "html": NotifyFormat.HTML}
_PLUGINS = NotificationManager()
with warnings.catch_warnings():
    # Apprise imports its ~150 service modules on first use; do it now, while plugins load, rather
    # than in the middle of a send. Some import deprecated modules (imghdr): not ours to report.
    warnings.simplefilter("ignore", DeprecationWarning)
    _PLUGINS.load_modules()


class AddressRejected(ValueError):
    """The value is not an Apprise URL this channel can use; the message carries no secret."""


# Apprise URLs: parse, check, redact ------------------------------------------------------------


def _asset() -> AppriseAsset:
    """Sends run in the calling thread (ours); no persistent store on disk; secrets masked in logs."""
    return AppriseAsset(async_mode=False, storage_mode=PersistentStoreMode.MEMORY, secure_logging=True)


def known_schemes() -> frozenset[str]:
    """Every URL scheme the installed Apprise can send to."""
    return frozenset(str(scheme).lower() for scheme in _PLUGINS.schemas())


def url_scheme(value: str) -> str | None:
    match = _SCHEME.match(value.strip())
    return match.group(1).lower() if match else None


def load_service(value: str) -> NotifyBase:
    """The Apprise service for the URL `value`; `AddressRejected` (without secrets) if there is none."""
    value = value.strip()
    scheme = url_scheme(value)
    if scheme is None:
        raise AddressRejected("not an Apprise URL: expected scheme://…, e.g. tgram://bottoken/chat_id")
    if scheme not in ("http", "https") and scheme not in _PLUGINS:
        close = _near_misses(scheme) or difflib.get_close_matches(scheme, sorted(known_schemes()), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise AddressRejected(f"unknown Apprise scheme {scheme!r}{hint}")
    scope = SendScope(secrets=secret_fragments(value, f"{scheme}://"))
    try:
        service = scope.run(Apprise.instantiate, value, asset=_asset(), suppress_exceptions=False)
    except Exception as exc:  # a plugin refusing its arguments raises whatever it likes
        raise AddressRejected(f"not a valid {_service_name(scheme)} URL: {scope.scrub(str(exc))}") from None
    if not isinstance(service, NotifyBase):
        raise AddressRejected(f"not a valid {_service_name(scheme)} URL: Apprise cannot read it")
    return service


def _near_misses(scheme: str) -> list[str]:
    """Apprise schemes `scheme` is most likely a typo of (`tgarm` → `tgram`); none for short schemes."""
    if len(scheme) < _TYPO_MIN_LENGTH:
        return []
    return difflib.get_close_matches(scheme, sorted(known_schemes()), n=3, cutoff=_TYPO_CUTOFF)


def service_schemes(service: NotifyBase) -> set[str]:
    """The schemes of the service's URLs (`workflow`, `workflows` for a Teams workflow)."""
    schemes: set[str] = set()
    for protocols in (getattr(service, "protocol", None), getattr(service, "secure_protocol", None)):
        if isinstance(protocols, str):
            schemes.add(protocols.lower())
        elif isinstance(protocols, tuple | list):
            schemes.update(str(protocol).lower() for protocol in protocols)
    return schemes


def _service_name(scheme: str) -> str:
    plugin = _PLUGINS[scheme] if scheme in _PLUGINS else None
    return str(getattr(plugin, "service_name", None) or scheme)


def shown_url(service: NotifyBase, value: str) -> str:
    """Apprise's privacy form of the URL, keeping only the query parameters `value` itself had."""
    private = urlsplit(str(service.url(privacy=True)))
    given = {key for key, _ in parse_qsl(urlsplit(value.strip()).query, keep_blank_values=True)}
    query = [(key, item) for key, item in parse_qsl(private.query, keep_blank_values=True) if key in given]
    return urlunsplit(private._replace(path=unquote(private.path), query=urlencode(query, safe="*.,:/@")))


@functools.lru_cache(maxsize=4096)
def redact_url(value: str) -> str:
    """`value` with its secrets masked, as Apprise itself prints it (`tgram://1...f/12345/`)."""
    try:
        return shown_url(load_service(value), value)
    except Exception:  # not one Apprise can read (or a plugin failing): show only the scheme
        scheme = url_scheme(value)
        return f"{scheme}://{MASK}" if scheme else MASK


def secret_fragments(value: str, shown: str) -> frozenset[str]:
    """The parts of URL `value` that `shown` (its redacted form) does not show: what must never be printed."""
    visible = set(_URL_PARTS.split(unquote(shown)))
    fragments = set()
    for part in _URL_PARTS.split(unquote(value.strip())):
        if len(part) >= _SECRET_MIN_LENGTH and part not in visible:
            fragments.update({part, re.sub(r"[^A-Za-z0-9]", "", part)} - {""})
    return frozenset(fragment for fragment in fragments if len(fragment) >= _SECRET_MIN_LENGTH)


# One send's scope: its secrets and its target check, seen by the threads that do its work --------

_current_scope: contextvars.ContextVar[SendScope | None] = contextvars.ContextVar(
    "clarion_apprise_send_scope", default=None
)


class SendScope:
    """What the threads running one Apprise call must know: the secrets to mask, whether to refuse
    non-public addresses, and (filled in by them) the targets they refused."""

    def __init__(self, secrets: frozenset[str] = frozenset(), refuse_private: bool = False) -> None:
        self._secrets = sorted(secrets, key=len, reverse=True)
        self.refuse_private = refuse_private
        self.refused: list[str] = []

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call `function` in a copy of the current context with this scope set (and its secrets masked)."""
        context = contextvars.copy_context()
        context.run(_current_scope.set, self)
        return context.run(function, *args, **kwargs)


class ScrubApprise(logging.Filter):
    """Masks the current send's secrets in Apprise's log records before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = _current_scope.get()
        if scope is not None and scope._secrets:
            record.msg, record.args = scope.scrub(record.getMessage()), ()
        return True


_original_getaddrinfo = socket.getaddrinfo
_guard_lock = threading.Lock()
_guard_installed = False


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """`socket.getaddrinfo`, refusing non-public answers inside a send scope that asks for it."""
    answers = _original_getaddrinfo(host, *args, **kwargs)
    scope = _current_scope.get()
    if scope is not None and scope.refuse_private:
        for *_, sockaddr in answers:
            if why := non_public_reason(str(sockaddr[0])):
                name = host.decode() if isinstance(host, bytes) else str(host)
                refusal = f"{name} resolves to {sockaddr[0]}, not a public address ({why})"
                scope.refused.append(refusal)
                raise TargetRefused(refusal)
    return answers


def install_target_guard() -> None:
    """Route `socket.getaddrinfo` through the check above (once per process; outside a send scope
    that refuses private targets it only passes the call on)."""
    global _guard_installed
    with _guard_lock:
        if not _guard_installed:
            socket.getaddrinfo = _guarded_getaddrinfo
            logging.getLogger("apprise").addFilter(ScrubApprise())
            _guard_installed = True


# The address kind and the channel type -----------------------------------------------------------


class AppriseAddress(AddressKind):
    """An Apprise URL. Values whose scheme Apprise knows (and that are not http/https) are of this
    kind without being told; an http(s) URL Apprise understands natively (a Discord webhook, …)
    is one when the client says `"kind": "apprise"`."""

    name = "apprise"

    def recognises(self, value: str) -> bool:
        """An Apprise scheme, or a near miss of one (`tgarm://`), which `check` then refuses with a hint."""
        scheme = url_scheme(value)
        if scheme is None or scheme in ("http", "https"):
            return False
        return scheme in _PLUGINS or bool(_near_misses(scheme))

    def check(self, value: str) -> None:
        load_service(value)

    def redact(self, value: str) -> str:
        return redact_url(value)


class AppriseOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`[channels.NAME.options]` of an `apprise` channel."""

    body_format: Literal["text", "markdown", "html"] = "text"
    """How the body is written: `text` and `markdown` send the template's `text`, `html` its `html`."""
    timeout_s: PositiveFloat = 15.0
    """Connect and read timeout of each request Apprise makes, and the limit of the whole send."""
    allowed_schemes: list[str] | None = None
    """Only URLs with these schemes are sent to (e.g. ["tgram", "slack"]); None: every scheme."""
    allow_private_targets: bool = False
    """Allow services whose host resolves to a private, loopback, link-local or other non-public address."""

    def __post_init__(self) -> None:
        if self.allowed_schemes is not None:
            self.allowed_schemes = [scheme.lower() for scheme in self.allowed_schemes]
            if unknown := sorted(set(self.allowed_schemes) - known_schemes()):
                raise ValueError(f"allowed_schemes: not Apprise schemes: {', '.join(unknown)}")


class AppriseChannel(Channel[AppriseOptions]):
    """Sends each message to the recipient's Apprise URL."""

    type_name = "apprise"
    options_type = AppriseOptions
    address_kinds = frozenset({"apprise"})
    capabilities = frozenset({"subject", "text", "html"})
    requires_template = False

    def __init__(self, name: str, options: AppriseOptions) -> None:
        super().__init__(name, options)
        self._executor: ThreadPoolExecutor | None = None

    async def open(self) -> None:
        if self._executor is not None:
            return
        install_target_guard()
        self._executor = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix=f"apprise-{self.name}")

    async def aclose(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # Sends in flight have finished (the dispatcher closes a channel after them): idle threads end at once.
            await asyncio.to_thread(executor.shutdown, wait=True)

    async def send(self, message: OutboundMessage) -> Delivered | PermanentFailure | TransientFailure:
        executor = self._executor
        if executor is None:
            raise RuntimeError(f"apprise channel {self.name!r} is not open")
        loop = asyncio.get_running_loop()
        result: Delivered | PermanentFailure | TransientFailure = await loop.run_in_executor(
            executor, functools.partial(self._deliver, message)
        )
        return result

    def _deliver(self, message: OutboundMessage) -> Delivered | PermanentFailure | TransientFailure:
        """One send, in a channel thread. An unexpected error is a transient failure whose reason, like
        every other, shows none of the URL's secrets (an exception would reach the logs unmasked)."""
        try:
            return self._notify(message)
        except Exception as exc:
            scope = SendScope(secret_fragments(message.address, redact_url(message.address)))
            logger.warning("apprise send of delivery %s failed: %s", message.delivery_id, type(exc).__name__)
            return TransientFailure(f"apprise_error: {type(exc).__name__}: {scope.scrub(str(exc))}")

    def _notify(self, message: OutboundMessage) -> Delivered | PermanentFailure | TransientFailure:
        """Load the service, notify, and read Apprise's result."""
        try:
            service = self._service(message.address)
        except AddressRejected as exc:
            return PermanentFailure(f"address_rejected: {exc}")
        shown = shown_url(service, message.address)
        scope = SendScope(
            secrets=secret_fragments(message.address, shown),
            refuse_private=not self.options.allow_private_targets,
        )
        title, body, body_format = message_parts(message, self.options.body_format)
        notifier = Apprise(asset=_asset())
        notifier.add(service)
        result = scope.run(
            notifier.notify, body=body, title=title, body_format=body_format, timeout=self.options.timeout_s
        )
        if scope.refused:
            return PermanentFailure(f"address_rejected: {scope.refused[0]}")
        if result:
            return Delivered()
        why = next(reversed([entry.message for entry in result.logs()]), None) or f"status {result.status.name}"
        return TransientFailure(f"apprise_failed: {service.service_name} ({shown}): {scope.scrub(why)}")

    def _service(self, address: str) -> NotifyBase:
        service = load_service(address)
        allowed = self.options.allowed_schemes
        # An https URL Apprise reads natively (a Teams workflow) counts as its service's schemes.
        if allowed is not None and not ({url_scheme(address)} | service_schemes(service)) & set(allowed):
            raise AddressRejected(
                f"scheme {url_scheme(address)!r} is not in this channel's allowed_schemes ({', '.join(allowed)})"
            )
        # Apprise's per-request timeouts (4 s by default) become the channel's.
        service.socket_connect_timeout = service.socket_read_timeout = self.options.timeout_s
        return service


def message_parts(message: OutboundMessage, body_format: str) -> tuple[str, str, NotifyFormat]:
    """Title, body and the body's format: the template's subject and text or html, else a default."""
    title = message.subject or ""
    text = (message.text, _BODY_FORMATS[body_format if body_format != "html" else "text"])
    html = (message.html, NotifyFormat.HTML)
    for body, fmt in (html, text) if body_format == "html" else (text, html):
        if body is not None:
            return title, body, fmt
    return title or message.event, default_body(message), NotifyFormat.TEXT


def default_body(message: OutboundMessage) -> str:
    """The message without a template: the event and its context, one `key: value` line each."""
    lines = [f"Event {message.event}"]
    lines += [f"{key}: {_plain(value)}" for key, value in _flat(message.context)]
    return "\n".join(lines)


def _flat(context: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in context.items():
        if isinstance(value, dict) and value:
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


@hookimpl
def register_address_kinds(register: Callable[[AddressKind], None]) -> None:
    register(AppriseAddress())


@hookimpl
def register_channel_types(register: Callable[[type[Channel]], None]) -> None:
    register(AppriseChannel)
