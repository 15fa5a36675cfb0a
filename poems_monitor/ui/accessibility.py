"""What a screen reader announces for the app's controls, filled in from what the screen already
shows.

Qt names a control from its accessible name, else from a label whose buddy it is *and* that
sits beside it under the same parent; it describes a control from its accessible description,
else from its tooltip. The forms here often put a field in a box under its label (with a hint and
a problem line below it), or give a layout (field and "Choose…") to a form row, and fields with
limits rarely repeat them in a tooltip. `label_controls(root)` closes those gaps once, where a
form is built or shown: a name from the field's label (its buddy label or its form row's label),
and for a field with a rule (a date, a number range, a typed format) a description that says it.
Names and descriptions set on purpose are never replaced.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox, QComboBox, QDateTimeEdit, QDoubleSpinBox, QFormLayout, QLabel, QLayout, QLineEdit, QSpinBox,
    QWidget,
)

from poems_monitor.i18n import tr

_TAGS = re.compile(r"<[^>]+>")


def plain_label(text: str) -> str:
    """A label's text as a name: no mnemonic '&', no markup, no trailing colon."""
    text = _TAGS.sub("", text).replace("&&", "\0").replace("&", "").replace("\0", "&")
    return text.strip().rstrip(":").strip()


def rule_description(widget: QWidget) -> str:
    """The rule a field enforces, in words ("" when it has none that can be read off the widget)."""
    if isinstance(widget, QDateTimeEdit):
        fmt = widget.displayFormat()
        return tr("A date written {format}, from {first} to {last}").format(
            format=fmt.upper(), first=widget.minimumDate().toString(fmt), last=widget.maximumDate().toString(fmt))
    if isinstance(widget, QSpinBox):
        return tr("From {low} to {high}{unit}").format(
            low=widget.textFromValue(widget.minimum()), high=widget.textFromValue(widget.maximum()), unit=widget.suffix())
    if isinstance(widget, QDoubleSpinBox):
        return tr("From {low} to {high}{unit}").format(
            low=widget.textFromValue(widget.minimum()), high=widget.textFromValue(widget.maximum()), unit=widget.suffix())
    if isinstance(widget, QLineEdit) and widget.placeholderText():
        return tr("Written as {pattern}").format(pattern=widget.placeholderText())
    return widget.toolTip()


def has_rule(widget: QWidget) -> bool:
    """A field that refuses some input: limits (spin boxes, dates) or a typed format."""
    return isinstance(widget, QAbstractSpinBox) or (isinstance(widget, QLineEdit) and widget.validator() is not None)


def _controls(widget: QWidget) -> list[QWidget]:
    """`widget` if it takes the focus itself, else the controls inside it (a field's box)."""
    if widget.focusPolicy() != Qt.FocusPolicy.NoFocus and not isinstance(widget, QLabel):
        return [widget]
    return [w for w in widget.findChildren(QWidget)
            if w.focusPolicy() != Qt.FocusPolicy.NoFocus and not isinstance(w, QLabel)
            and not isinstance(w.parentWidget(), (QAbstractSpinBox, QComboBox))]


def _layout_widgets(layout: QLayout) -> list[QWidget]:
    found: list[QWidget] = []
    for i in range(layout.count()):
        item = layout.itemAt(i)
        widget, inner = (item.widget(), item.layout()) if item is not None else (None, None)
        if widget is not None:
            found.append(widget)
        elif inner is not None:
            found += _layout_widgets(inner)
    return found


def _name(widget: QWidget, name: str) -> None:
    if name and not widget.accessibleName():
        widget.setAccessibleName(name)


def described(widget: QWidget, description: str) -> QWidget:
    """`widget`, with `description` as its tooltip and what a screen reader reads after its name."""
    widget.setAccessibleDescription(description)
    widget.setToolTip(description)
    return widget


def label_controls(root: QWidget) -> None:
    """Give every control under `root` that lacks one a name from its label and, where it has a
    rule, a description of the rule (see the module's docstring)."""
    for label in root.findChildren(QLabel):
        if label.buddy() is not None:
            for control in _controls(label.buddy()):
                _name(control, plain_label(label.text()))
    for form in root.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            label_item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            row_label = label_item.widget() if label_item is not None else None
            if field is None or not isinstance(row_label, QLabel):
                continue
            field_widget, field_layout = field.widget(), field.layout()
            widgets = ([field_widget] if field_widget is not None
                       else _layout_widgets(field_layout) if field_layout is not None else [])
            controls = [c for w in widgets for c in _controls(w)]
            if controls:  # the row's first control is the field; the others ("Choose…") have their own text
                _name(controls[0], plain_label(row_label.text()))
    for widget in root.findChildren(QWidget):
        if has_rule(widget) and not widget.accessibleDescription():
            widget.setAccessibleDescription(rule_description(widget))


__all__ = ["described", "has_rule", "label_controls", "plain_label", "rule_description"]
