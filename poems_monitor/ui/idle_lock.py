"""Locking the window when nobody uses it: the idle watcher, the lock panel, and the setting.

Owns three small things. `IdleWatcher` is an event filter on the QApplication: keyboard, mouse,
wheel and touch input anywhere in the app marks the session as used; when no input came for the
configured time it emits `idle`. `LockPanel` is what a locked window shows instead of patient
data: a lock, who is signed in, and a name + password form (the same user unlocks, or another
user signs in). `idle_lock_minutes()` reads the workstation setting from `session.toml` in the
user's config folder, writing the file with its DEFAULT the first time so a clinic can find it.
Password checks are `services.users`; what locking hides and unlocking restores is the main
window's business.
"""

from __future__ import annotations

import time
import tomllib

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QFormLayout, QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from poems_monitor.config import app_paths
from poems_monitor.i18n import ntr, tr
from poems_monitor.settings_catalog import IDLE_LOCK_MINUTES, SESSION_FILE, SIGN_IN_ATTEMPTS, SIGN_IN_LOCK_MINUTES

# DEFAULT for a shared clinic workstation; not from any standard (declared in settings_catalog)
DEFAULT_IDLE_LOCK_MINUTES = IDLE_LOCK_MINUTES.default
MIN_IDLE_LOCK_MINUTES, MAX_IDLE_LOCK_MINUTES = IDLE_LOCK_MINUTES.limits

_SESSION_TEMPLATE = """\
# poems-monitor: settings of a signed-in session on this workstation.
#
# idle_lock_minutes: the window locks (patient data hidden, password asked) after this many
# minutes without keyboard or mouse input. {default} is a DEFAULT chosen for a shared clinic
# workstation, not a value from any standard: set what your clinic's policy asks ({low} to {high}).
idle_lock_minutes = {default}
#
# sign_in_attempts: wrong passwords in a row (in the app or on the command line) that lock an
# account for sign_in_lock_minutes, or until an administrator runs `poems-monitor users unlock
# NAME`. {attempts} and {lock} are DEFAULTs, not values from any standard ({attempts_low} to
# {attempts_high} attempts, {lock_low} to {lock_high} minutes).
sign_in_attempts = {attempts}
sign_in_lock_minutes = {lock}
"""

_INPUT_EVENTS = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseMove,
    QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate, QEvent.Type.TabletPress,
    QEvent.Type.ShortcutOverride,
})


def idle_lock_minutes() -> int:
    """The configured idle time before the window locks, in minutes (the DEFAULT is 10).

    Writes `session.toml` with the DEFAULT and an explanation when it does not exist yet; a value
    outside 1..240 or an unreadable file gives the DEFAULT (a lock must not be switched off by a typo).
    """
    path = app_paths().config / SESSION_FILE
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_SESSION_TEMPLATE.format(
                default=DEFAULT_IDLE_LOCK_MINUTES, low=MIN_IDLE_LOCK_MINUTES, high=MAX_IDLE_LOCK_MINUTES,
                attempts=SIGN_IN_ATTEMPTS.default, attempts_low=SIGN_IN_ATTEMPTS.limits[0],
                attempts_high=SIGN_IN_ATTEMPTS.limits[1], lock=SIGN_IN_LOCK_MINUTES.default,
                lock_low=SIGN_IN_LOCK_MINUTES.limits[0], lock_high=SIGN_IN_LOCK_MINUTES.limits[1]), encoding="utf-8")
        except OSError:
            pass
        return DEFAULT_IDLE_LOCK_MINUTES
    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get(IDLE_LOCK_MINUTES.key, DEFAULT_IDLE_LOCK_MINUTES)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return DEFAULT_IDLE_LOCK_MINUTES
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return DEFAULT_IDLE_LOCK_MINUTES
    if not MIN_IDLE_LOCK_MINUTES <= value <= MAX_IDLE_LOCK_MINUTES:
        return DEFAULT_IDLE_LOCK_MINUTES
    return int(value)


def save_idle_lock_minutes(minutes: int) -> None:
    """Set `idle_lock_minutes` in `session.toml`, keeping its other settings and comments."""
    import re

    if isinstance(minutes, bool) or not MIN_IDLE_LOCK_MINUTES <= minutes <= MAX_IDLE_LOCK_MINUTES:
        raise ValueError(f"idle lock minutes outside {MIN_IDLE_LOCK_MINUTES}..{MAX_IDLE_LOCK_MINUTES}: {minutes}")
    path = app_paths().config / SESSION_FILE
    idle_lock_minutes()  # writes the commented file with its DEFAULTs when there is none yet
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    line = f"idle_lock_minutes = {int(minutes)}"
    pattern = re.compile(r"^idle_lock_minutes\s*=.*$", re.M)
    text = pattern.sub(line, text, count=1) if pattern.search(text) else line + "\n" + text
    path.write_text(text, encoding="utf-8")


class IdleWatcher(QObject):
    """Emits `idle` once after `timeout_ms` without user input anywhere in the application.

    Input only records a time (cheap: mouse moves arrive by the hundred); one single-shot timer
    checks at the earliest moment the session can be idle and re-arms itself for the remainder.
    """

    idle = Signal()

    def __init__(self, timeout_ms: int, parent: QObject | None = None):
        super().__init__(parent)
        self.timeout_ms = max(1, int(timeout_ms))
        self._last_input = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._check)
        self._paused = False
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self._timer.start(self.timeout_ms)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in _INPUT_EVENTS:
            self._last_input = time.monotonic()
        return False

    def touch(self) -> None:
        """Count now as input (after an unlock, or a long operation the person waited for)."""
        self._last_input = time.monotonic()
        if not self._paused:
            self._timer.start(self.timeout_ms)

    def pause(self) -> None:
        """Stop watching (while locked: there is nothing more to lock)."""
        self._paused = True
        self._timer.stop()

    def resume(self) -> None:
        self._paused = False
        self.touch()

    def stop(self) -> None:
        self.pause()
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def _check(self) -> None:
        if self._paused:
            return
        idle_ms = (time.monotonic() - self._last_input) * 1000
        if idle_ms >= self.timeout_ms - 5:
            self.idle.emit()
        else:
            self._timer.start(max(10, int(self.timeout_ms - idle_ms)))


def lock_pixmap(size: int, colour) -> QPixmap:  # noqa: ANN001 (a QColor)
    """A padlock drawn with the palette's text colour (no icon file needed, sharp at any size)."""
    pixmap = QPixmap(QSize(size, size))
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(colour)
    pen.setWidthF(size * 0.09)
    p.setPen(pen)
    shackle = QPainterPath()
    shackle.moveTo(size * 0.30, size * 0.47)
    shackle.lineTo(size * 0.30, size * 0.32)
    shackle.arcTo(size * 0.30, size * 0.12, size * 0.40, size * 0.40, 180, -180)
    shackle.lineTo(size * 0.70, size * 0.47)
    p.drawPath(shackle)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawRoundedRect(int(size * 0.18), int(size * 0.45), int(size * 0.64), int(size * 0.45), size * 0.06, size * 0.06)
    p.setBrush(Qt.GlobalColor.transparent)
    p.end()
    return pixmap


class LockPanel(QFrame):
    """What a locked window shows: a lock, the reason, and a sign-in form.

    Emits `unlockRequested(name, password)`; the owner checks the password and calls
    `refuse(sentence)` or hides the panel. `set_state(...)` words it for an idle lock or a sign-out.
    """

    unlockRequested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None, *, compact: bool = False):
        super().__init__(parent)
        self.setObjectName("lockPanel")
        self.setAutoFillBackground(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        self.icon = QLabel()
        self.icon.setObjectName("lockIcon")
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        icon_size = 56 if compact else 96
        self.icon.setPixmap(lock_pixmap(icon_size, self.palette().windowText().color()))
        self.icon.setAccessibleName(tr("Locked"))

        self.heading = QLabel(tr("poems-monitor is locked"))
        self.heading.setObjectName("lockHeading")
        self.heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.heading.font()
        font.setPointSizeF(font.pointSizeF() * (1.3 if compact else 1.7))
        font.setBold(True)
        self.heading.setFont(font)

        self.explanation = QLabel("")
        self.explanation.setObjectName("lockExplanation")
        self.explanation.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.explanation.setWordWrap(True)

        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("lockName")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("lockPassword")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.returnPressed.connect(self._submit)
        self.name_edit.returnPressed.connect(self.password_edit.setFocus)
        form = QFormLayout()
        form.addRow(tr("&Name"), self.name_edit)
        form.addRow(tr("&Password"), self.password_edit)

        self.message = QLabel("")
        self.message.setObjectName("lockMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.unlock_button = QPushButton(tr("Unlock"))
        self.unlock_button.setObjectName("unlockButton")
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self._submit)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.unlock_button)

        card = QFrame()
        card.setObjectName("lockCard")
        card.setMaximumWidth(460)
        inner = QVBoxLayout(card)
        inner.setSpacing(10)
        inner.addWidget(self.icon)
        inner.addWidget(self.heading)
        inner.addWidget(self.explanation)
        inner.addSpacing(6)
        inner.addLayout(form)
        inner.addWidget(self.message)
        inner.addLayout(buttons)

        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(0 if compact else 1)
        row.addWidget(card, 3)
        row.addStretch(0 if compact else 1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.setStyleSheet(
            "QFrame#lockCard { border: 1px solid palette(mid); border-radius: 10px; background: palette(base); "
            "padding: 14px; }"
            "QLabel#lockMessage { font-weight: 600; }")

    def set_state(self, *, user: str, role: str, signed_out: bool, idle_minutes: float | None = None) -> None:
        """Word the panel: locked for `user` (who unlocks, or another user signs in) or signed out."""
        if signed_out:
            self.heading.setText(tr("Signed out"))
            self.explanation.setText(tr("{user} signed out. Patient data are hidden. Sign in to continue.").format(user=user))
            self.name_edit.clear()
            self.unlock_button.setText(tr("Sign in"))
        else:
            self.heading.setText(tr("poems-monitor is locked"))
            why = (ntr("Locked after {n} minute without use.", "Locked after {n} minutes without use.",
                       1 if idle_minutes == 1 else 2).format(n=_plain_number(idle_minutes))
                   if idle_minutes is not None else tr("Locked."))
            self.explanation.setText(why + " " + tr(
                "Patient data are hidden. {user} ({role}) unlocks with their password; another user may sign in "
                "instead (nothing saved is lost).").format(user=user, role=role))
            self.name_edit.setText(user)
            self.unlock_button.setText(tr("Unlock"))
        self.password_edit.clear()
        self.message.clear()

    def focus_form(self) -> None:
        (self.password_edit if self.name_edit.text() else self.name_edit).setFocus(Qt.FocusReason.OtherFocusReason)

    def refuse(self, sentence: str) -> None:
        self.message.setText("⚠ " + sentence)
        self.password_edit.clear()
        self.focus_form()

    def _submit(self) -> None:
        name = self.name_edit.text().strip()
        if not name:
            self.refuse(tr("Enter your name."))
            return
        self.unlockRequested.emit(name, self.password_edit.text())


def _plain_number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.2g}"


def lock_icon(size: int = 16, colour=None) -> QIcon:  # noqa: ANN001
    from PySide6.QtGui import QColor, QGuiApplication

    colour = colour or QGuiApplication.palette().windowText().color() or QColor("black")
    return QIcon(lock_pixmap(size, colour))
