"""One row of the visit entry form per catalogue measure: the editor, the unit chooser and the
live verdict beside it.

Owns the translation between what a person types ("<5", "9,5", a grade in words) and the
service's `EnteredValue`, and the short text that tells the person at once what the catalogue's
three tiers make of the value (conversion shown when an alternative unit is chosen). The checks
themselves are `domain.validation.check_value`; nothing here decides a limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QSizePolicy, QWidget

from poems_monitor.domain.catalogue import MEASURES, MeasureKind, value_label
from poems_monitor.domain.numbers import format_number, read_number
from poems_monitor.domain.catalogue import unit_display
from poems_monitor.domain.display_units import CANONICAL, DisplayUnits
from poems_monitor.domain.validation import CheckedValue, Tier, check_value, unit_slip
from poems_monitor.i18n import or_list, tr
from poems_monitor.local_format import day, decimal_text
from poems_monitor.services.visits import EnteredValue, LastRecorded
from poems_monitor.ui.entry.marks import TIER_MARKS, set_tier

# Digits and separators only; what they mean is `domain.numbers.read_number`'s decision (a
# grouped shape such as "1,240" must reach it to be refused with both readings, not be blocked).
NUMBER_PATTERN = QRegularExpression(r"^\s*[<>]?\s*[0-9]{0,9}([.,][0-9]{0,4}){0,3}\s*$")
VALUE_WIDTH = 96
UNIT_WIDTH = 104
NAME_WIDTH = 140
PREVIOUS_WIDTH = 104
STATUS_MIN_WIDTH = 120


def fmt_number(value: float, decimals: int) -> str:
    return format_number(value, decimals)


def previous_label(name: str, parent: QWidget | None = None) -> QLabel:
    """The small grey "previous value and its date" beside a field."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setProperty("role", "previous")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setMinimumWidth(PREVIOUS_WIDTH)
    return label


def show_previous(label: QLabel, last: LastRecorded | None) -> None:
    label.setText(f"{decimal_text(last.text)}<br><small>{day(last.date)}</small>" if last else "")
    label.setToolTip(tr("Previous: {value} at the visit of {d}").format(value=decimal_text(last.text), d=day(last.date))
                     if last else "")


@dataclass(frozen=True)
class RowVerdict:
    """What the row shows beside the value."""

    tier: str | None  # "refused" | "critical" | "out_of_range" | None
    text: str
    message: str = ""  # the domain's full sentence (banner, tooltip)


def parse_typed(text: str) -> tuple[str, str | None]:
    """('<5' -> ('5', '<')): the number as typed (read by `read_number`) and the qualifier."""
    raw = text.strip()
    qualifier = None
    if raw[:1] in ("<", ">"):
        qualifier, raw = raw[0], raw[1:].strip()
    return raw, qualifier


class MeasureRow(QObject):
    """Editor, unit chooser and verdict of one measure. Lives in the form's grid."""

    changed = Signal()

    def __init__(self, code: str, parent: QWidget):
        super().__init__(parent)
        self.code = code
        self.measure = m = MEASURES[code]
        self.name_label = QLabel(m.label, parent)
        self.unit_widget: QWidget | None = None
        self.unit_combo: QComboBox | None = None
        self.editor: QWidget | None
        if m.derived_from:
            self.editor = None
            self.derived_label = QLabel("—", parent)
            self.derived_label.setObjectName(f"derived_{code}")
        elif m.kind is MeasureKind.CATEGORICAL or m.grades:
            combo = QComboBox(parent)
            combo.setObjectName(f"value_{code}")
            blank = tr("— not done —") if m.kind is MeasureKind.CATEGORICAL else tr("— not assessed —")
            combo.addItem(blank, None)
            if m.kind is MeasureKind.CATEGORICAL:
                for category in m.categories:
                    combo.addItem(value_label(category), category)
            else:
                for grade, text in enumerate(m.grades):
                    combo.addItem(tr(text), grade)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(self._on_change)
            self.editor = combo
        else:
            edit = QLineEdit(parent)
            edit.setObjectName(f"value_{code}")
            edit.setValidator(QRegularExpressionValidator(NUMBER_PATTERN, edit))
            edit.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            edit.setFixedWidth(VALUE_WIDTH)
            edit.setClearButtonEnabled(False)
            edit.textChanged.connect(self._on_change)
            self.editor = edit
        if self.editor is not None:
            self.name_label.setBuddy(self.editor)
            self.editor.setAccessibleName(m.label)
        if m.alternatives:
            unit = QComboBox(parent)
            unit.setObjectName(f"unit_{code}")
            unit.addItem(m.unit_label, m.unit)
            for conv in m.alternatives:
                unit.addItem(conv.label, conv.unit)
            unit.setFixedWidth(UNIT_WIDTH)
            unit.setAccessibleName(tr("{name} unit").format(name=m.label))
            unit.currentIndexChanged.connect(self._on_change)
            self.unit_combo = unit
            self.unit_widget = unit
        elif m.kind is not MeasureKind.CATEGORICAL and not m.grades and not m.derived_from:
            label = QLabel(m.unit_label, parent)
            label.setProperty("role", "hint")
            self.unit_widget = label
        self.previous = previous_label(f"prev_{code}", parent)
        self.status = QLabel(parent)
        self.status.setObjectName(f"status_{code}")
        self.status.setWordWrap(True)
        # takes the width that is left and wraps: a long verdict never widens the form
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setMinimumWidth(STATUS_MIN_WIDTH)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self._sex: str | None = None
        self.verdict = RowVerdict(None, "")
        self.units: DisplayUnits = CANONICAL  # the clinic's unit per measure (protocol [units])

    def set_units(self, units: DisplayUnits) -> None:
        """The clinic's units: an empty row offers the clinic's unit of this measure first."""
        self.units = units

    def _unit_index(self, unit: str) -> int:
        assert self.unit_combo is not None
        wanted = unit.strip().lower()
        return next((i for i in range(self.unit_combo.count()) if str(self.unit_combo.itemData(i)).lower() == wanted), 0)

    def _seen(self) -> DisplayUnits:
        """The unit the person sees on this row now (its chooser), for limits and ranges."""
        return DisplayUnits(((self.code, self.unit() or self.measure.unit),))

    # --- reading ------------------------------------------------------------------------------
    def unit(self) -> str | None:
        if self.unit_combo is not None:
            return self.unit_combo.currentData()
        return None

    def is_empty(self) -> bool:
        if self.editor is None:
            return True
        if isinstance(self.editor, QComboBox):
            return self.editor.currentData() is None
        return self.editor.text().strip() == ""

    def typed(self) -> tuple[object, str | None] | None:
        """(value, qualifier) as the service wants it, or None when nothing was entered."""
        if self.editor is None or self.is_empty():
            return None
        if isinstance(self.editor, QComboBox):
            return self.editor.currentData(), None
        raw, qualifier = parse_typed(self.editor.text())
        return raw, qualifier

    def entered(self, confirmed: bool = False) -> EnteredValue | None:
        typed = self.typed()
        if typed is None:
            return None
        value, qualifier = typed
        if isinstance(value, str):
            reading = read_number(value)
            if reading.ok:
                value = reading.value
            # else: the text goes as typed and the service refuses it with the same sentence
        return EnteredValue(self.code, value, self.unit(), self.measure.specimen, qualifier, confirmed)

    def state_key(self) -> tuple:
        typed = self.typed()
        return (self.code, typed, self.unit() if typed is not None else None)

    def check(self, sex: str | None) -> CheckedValue | None:
        typed = self.typed()
        if typed is None:
            return None
        value, _qualifier = typed
        return check_value(self.code, value, self.unit(), sex)

    # --- writing ------------------------------------------------------------------------------
    def set_previous(self, last: LastRecorded | None) -> None:
        show_previous(self.previous, last)

    def load(self, value: EnteredValue | None) -> None:
        blockers = [w for w in (self.editor, self.unit_combo) if w is not None]
        for w in blockers:
            w.blockSignals(True)
        try:
            if self.unit_combo is not None:
                # a saved value in the unit it was entered in; an empty row in the clinic's unit
                unit = value.unit if value is not None and value.unit else self.units.unit(self.code)
                self.unit_combo.setCurrentIndex(self._unit_index(unit))
            if isinstance(self.editor, QComboBox):
                index = 0
                if value is not None:
                    wanted = value.value
                    for i in range(1, self.editor.count()):
                        data = self.editor.itemData(i)
                        if data == wanted or (isinstance(wanted, (int, float)) and data == int(wanted)):
                            index = i
                self.editor.setCurrentIndex(index)
            elif isinstance(self.editor, QLineEdit):
                if value is None:
                    self.editor.clear()
                else:
                    number = value.value
                    text = fmt_number(float(number), 6) if isinstance(number, (int, float)) else str(number)
                    self.editor.setText(f"{value.qualifier or ''}{text}")
        finally:
            for w in blockers:
                w.blockSignals(False)

    # --- verdict ------------------------------------------------------------------------------
    def _on_change(self, *_args) -> None:  # noqa: ANN002
        self.refresh(self._sex)
        self.changed.emit()

    def refresh(self, sex: str | None) -> RowVerdict:
        """Re-check the value and show the verdict beside it."""
        self._sex = sex
        self.verdict = self._verdict(sex)
        self.status.setText(self.verdict.text)
        self.status.setToolTip(self.verdict.message)
        self.status.setProperty("mark", self.verdict.tier or "hint")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        if self.editor is not None:
            set_tier(self.editor, self.verdict.tier)
            self.editor.setToolTip(self.verdict.message or (tr(self.measure.description) if self.measure.description else ""))
            self.editor.setAccessibleDescription(self.verdict.message or self.rule_text(sex))
        return self.verdict

    def rule_text(self, sex: str | None) -> str:
        """What a screen reader says of the empty or accepted field: its unit, reference range and
        the values it accepts (the catalogue's, in its unit)."""
        m = self.measure
        parts = [self._reference_hint(sex)]
        if isinstance(self.editor, QLineEdit):
            unit = self.unit_combo.currentText() if self.unit_combo is not None else m.unit_label
            parts.insert(0, tr("in {unit}").format(unit=unit) if unit else "")
            if m.absolute.text():
                parts.append(tr("accepted {range} {unit}").format(range=m.absolute.text(), unit=m.unit_label).strip())
        return "; ".join(p for p in parts if p)

    def _reference_hint(self, sex: str | None) -> str:
        m = self.measure
        ref = m.reference_for(sex)
        if ref is not None and ref.low == 0 and ref.high == 0:
            return tr("normally absent")
        if ref is not None and ref.text():
            return tr("ref {range}").format(range=decimal_text(self._range_text(ref)))
        if m.sex_specific:
            return tr("reference depends on sex")
        return ""

    def _range_text(self, ref) -> str:  # noqa: ANN001
        seen = self._seen()
        return ref.text() if seen.is_canonical(self.code) else seen.range_text(self.code, ref.low, ref.high)

    def _verdict(self, sex: str | None) -> RowVerdict:
        m = self.measure
        checked = self.check(sex)
        if checked is None:
            return RowVerdict(None, self._reference_hint(sex))
        conversion = ""
        typed_unit = self.unit() or m.unit
        if (checked.canonical is not None and not isinstance(checked.canonical, str) and self.typed() is not None
                and typed_unit.lower() != self.units.unit(self.code).lower()):
            # typed in another unit than the clinic's: say what it is in the clinic's unit
            raw, qualifier = self.typed()  # type: ignore[misc]
            label = self.unit_combo.currentText() if self.unit_combo is not None else typed_unit
            shown = (fmt_number(float(checked.canonical), m.decimals + 1) if self.units.is_canonical(self.code)
                     else self.units.number(self.code, float(checked.canonical)))
            conversion = "{q}{v} {u} = {q}{c} {cu}".format(
                q=qualifier or "", v=raw, u=label, c=shown, cu=self.units.label(self.code))
        if checked.tier is Tier.OK:
            hint = conversion or ("✓" if m.kind is MeasureKind.CATEGORICAL or m.grades else self._reference_hint(sex))
            return RowVerdict(None, hint)
        colour, symbol, word = TIER_MARKS[checked.tier.value]
        if checked.tier is Tier.REFUSED:
            short = self._refused_text(checked)
        elif checked.tier is Tier.CRITICAL:
            critical = m.critical
            assert critical is not None
            seen = self._seen()
            if critical.above(float(checked.canonical)):
                limit = tr("above {x}").format(x=seen.quote(self.code, critical.high))
            else:
                limit = tr("below {x}").format(x=seen.quote(self.code, critical.low))
            short = tr("critical ({limit}): you will be asked to confirm").format(limit=limit)
        else:
            ref = m.reference_for(sex)
            high = ref is not None and ref.above(float(checked.canonical))
            short = (tr("high (ref {range})") if high else tr("low (ref {range})")).format(
                range=self._range_text(ref) if ref is not None else "")
        text = f"{symbol} {short}"
        if conversion:
            text = f"{conversion}   {text}"
        return RowVerdict(checked.tier.value, text, checked.message)

    def _refused_text(self, checked: CheckedValue) -> str:
        m = self.measure
        typed = self.typed()
        reading = read_number(str(typed[0])) if typed is not None else None
        conv = m.conversion_for(self.unit() or m.unit)
        number = conv.to_canonical(reading.value) if conv is not None and reading and reading.ok else None
        seen = self._seen()  # the limit in the unit the person typed in
        if number is not None and m.absolute.above(number):
            text = tr("not possible: above {x} {u}").format(x=seen.quote(self.code, m.absolute.high), u=seen.label(self.code))
        elif number is not None and m.absolute.below(number):
            text = tr("not possible: below {x} {u}").format(x=seen.quote(self.code, m.absolute.low), u=seen.label(self.code))
        else:  # the domain's sentence, without the name the row already shows
            text = checked.message.removeprefix(f"{m.label}: ")
        others = unit_slip(self.code, reading.value, self.unit() or m.unit) if reading and reading.ok else ()
        if others:  # a value possible in another unit of the catalogue: Hb 135 is g/L, not g/dL
            text += ": " + tr("did you mean {units}?").format(units=or_list(unit_display(u) for u in others))
        return text
