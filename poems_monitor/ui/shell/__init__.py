"""The desktop window's shell: the parts of the main window that are not screens.

- `actions`: every menu command, its shortcut and who may use it, declared once; menus and the
  toolbar are laid out from that list.
- `lock_controller`: the idle lock, Lock and Sign out, the lock panel over every open window, and
  unlocking or signing in as another user.
- `maintenance`: the backup indicator, Back up now, the daily backup on close, Restore, Check
  database and reopening the database after a restore.
- `commands`: the menu commands that open a window or file of their own and change nothing
  (printing and PDF of the summary, chart export, history of changes, accounts, shortcuts, about);
  `record_commands`: those that write through a dialog (new patient, treatment, event, lab import).
- `centre_tabs`: the dashboard and the visit entry form (built on first use; leaving it with
  unsaved changes asks first).
- `layout_memory`: the window's remembered size, toolbars and splitters.
- `clinic_overview`: the patient list's flag and overdue counts, recomputed off the GUI thread;
  `status_line`: the status bar (the last save's confirmation, backups, database, user).
- `session`: the signed-in desktop session (a window belongs to one user; switching user builds
  a new one).

The window itself, navigation between views and the visit entry tab, is `ui.main_window`; it
builds these parts and wires them to the screens. Each part takes what it needs in its
constructor (the window as a parent, the database, the actor, callbacks), so a test builds it
with a plain QMainWindow.
"""
