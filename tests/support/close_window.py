"""Asks the X11 window whose title ends with the given text to close, as a
window manager's close button does (WM_DELETE_WINDOW), so the app sees a
user closing it. Usage: close_window.py TITLE_SUFFIX"""

import sys

from Xlib import X, display, protocol


def windows(window):
    yield window
    for child in window.query_tree().children:
        yield from windows(child)


def main(suffix):
    screen = display.Display()
    protocols = screen.intern_atom("WM_PROTOCOLS")
    delete = screen.intern_atom("WM_DELETE_WINDOW")
    net_name = screen.intern_atom("_NET_WM_NAME")
    utf8 = screen.intern_atom("UTF8_STRING")
    for window in windows(screen.screen().root):
        # GTK names its windows in UTF-8 (_NET_WM_NAME); WM_NAME may be Latin-1 or absent.
        prop = window.get_full_property(net_name, utf8)
        name = prop.value if prop else window.get_wm_name()
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if name and name.endswith(suffix) and delete in (window.get_wm_protocols() or []):
            event = protocol.event.ClientMessage(
                window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
            )
            window.send_event(event)
            screen.flush()
            return 0
    print(f"no window titled ...{suffix}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
