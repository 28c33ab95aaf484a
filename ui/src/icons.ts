// Inline SVG icons (24x24, stroke = currentColor). No external assets.

const wrap = (body: string, cls = "icon") =>
  `<svg class="${cls}" viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${body}</svg>`;

/** Signal bars, the first `lit` of them bright; `extra` is drawn over them. */
const bars = (lit: number, extra = "") =>
  wrap(
    ["M5 20v-4", "M12 20v-9", "M19 20v-15"]
      .map((d, i) => `<path d="${d}" stroke-width="3"${i < lit ? "" : ' opacity=".3"'}/>`)
      .join("") + extra,
  );

export const icons = {
  mic: wrap(
    '<rect x="9" y="2" width="6" height="12" rx="3"/><path d="M5 10v1a7 7 0 0 0 14 0v-1"/><path d="M12 18v4"/><path d="M8 22h8"/>',
  ),
  micOff: wrap(
    '<path d="M2 2l20 20"/><path d="M9 9v2a3 3 0 0 0 5.1 2.1"/><path d="M15 9.3V5a3 3 0 0 0-5.9-.7"/><path d="M19 10v1a7 7 0 0 1-.9 3.4"/><path d="M5 10v1a7 7 0 0 0 11.2 5.6"/><path d="M12 18v4"/><path d="M8 22h8"/>',
  ),
  camera: wrap('<rect x="2" y="6" width="14" height="12" rx="2"/><path d="M16 10l6-3v10l-6-3z"/>'),
  cameraOff: wrap(
    '<path d="M2 2l20 20"/><path d="M16 16v.5A1.5 1.5 0 0 1 14.5 18H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h2"/><path d="M10 6h4a2 2 0 0 1 2 2v3.3l6-3.3v10"/>',
  ),
  share: wrap(
    '<rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8"/><path d="M12 17v4"/><path d="M12 13V7"/><path d="M9 10l3-3 3 3"/>',
  ),
  shareStop: wrap(
    '<rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8"/><path d="M12 17v4"/><path d="M9.5 7.5l5 5"/><path d="M14.5 7.5l-5 5"/>',
  ),
  chat: wrap('<path d="M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.6A8 8 0 1 1 21 12z"/>'),
  people: wrap(
    '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/><path d="M16 4.6a3.5 3.5 0 0 1 0 6.8"/><path d="M18 14.5a6.5 6.5 0 0 1 3.5 5.5"/>',
  ),
  leave: wrap(
    '<path d="M10.7 13.3a11 11 0 0 0 3.9 2.6l1.8-1.5a1.5 1.5 0 0 1 1.6-.2l3 1.3a1.5 1.5 0 0 1 .9 1.6l-.4 2.6A1.5 1.5 0 0 1 20 21 17 17 0 0 1 3 4a1.5 1.5 0 0 1 1.3-1.5L6.9 2a1.5 1.5 0 0 1 1.6.9l1.3 3a1.5 1.5 0 0 1-.2 1.6L8.1 9.3a11 11 0 0 0 2.6 4z" transform="rotate(135 12 12)"/>',
  ),
  settings: wrap(
    '<circle cx="12" cy="12" r="3"/><path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"/>',
  ),
  close: wrap('<path d="M18 6L6 18"/><path d="M6 6l12 12"/>'),
  send: wrap('<path d="M22 2L11 13"/><path d="M22 2l-7 20-4-9-9-4z"/>'),
  copy: wrap('<rect x="9" y="9" width="13" height="13" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>'),
  link: wrap(
    '<path d="M10 13a5 5 0 0 0 7.5.5l3-3a5 5 0 0 0-7-7l-1.7 1.7"/><path d="M14 11a5 5 0 0 0-7.5-.5l-3 3a5 5 0 0 0 7 7l1.7-1.7"/>',
  ),
  monitor: wrap('<rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8"/><path d="M12 17v4"/>'),
  shield: wrap('<path d="M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z"/>'),
  speaker: wrap(
    '<path d="M11 5L6 9H2v6h4l5 4z"/><path d="M15.5 8.5a5 5 0 0 1 0 7"/><path d="M19 5a10 10 0 0 1 0 14"/>',
  ),
  lock: wrap('<rect x="4" y="11" width="16" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>'),
  host: wrap('<rect x="3" y="4" width="18" height="12" rx="2"/><path d="M7 20h10"/><path d="M9 16v4"/><path d="M15 16v4"/>'),
  server: wrap(
    '<rect x="3" y="3" width="18" height="7" rx="2"/><rect x="3" y="14" width="18" height="7" rx="2"/><path d="M7 6.5h.01"/><path d="M7 17.5h.01"/>',
  ),
  grid: wrap('<rect x="3" y="3" width="8" height="8" rx="1.5"/><rect x="13" y="3" width="8" height="8" rx="1.5"/><rect x="3" y="13" width="8" height="8" rx="1.5"/><rect x="13" y="13" width="8" height="8" rx="1.5"/>'),
  speakerView: wrap('<rect x="2" y="3" width="14" height="18" rx="2"/><rect x="18" y="3" width="4" height="5" rx="1"/><rect x="18" y="10" width="4" height="5" rx="1"/><rect x="18" y="17" width="4" height="4" rx="1"/>'),
  fullscreen: wrap('<path d="M3 9V5a2 2 0 0 1 2-2h4"/><path d="M15 3h4a2 2 0 0 1 2 2v4"/><path d="M21 15v4a2 2 0 0 1-2 2h-4"/><path d="M9 21H5a2 2 0 0 1-2-2v-4"/>'),
  fullscreenExit: wrap('<path d="M9 3v4a2 2 0 0 1-2 2H3"/><path d="M21 9h-4a2 2 0 0 1-2-2V3"/><path d="M15 21v-4a2 2 0 0 1 2-2h4"/><path d="M3 15h4a2 2 0 0 1 2 2v4"/>'),
  pin: wrap('<path d="M9 3h6l-1 6 4 4H6l4-4z"/><path d="M12 13v8"/>'),
  keyboard: wrap('<rect x="2" y="6" width="20" height="12" rx="2"/><path d="M6 10h.01M10 10h.01M14 10h.01M18 10h.01M7 14h10"/>'),
  signal3: bars(3),
  signal2: bars(2),
  signal1: bars(1),
  signalLost: bars(0, '<path d="M3 3l18 18"/>'),
  activity: wrap('<path d="M22 12h-4l-3 9L9 3l-3 9H2"/>'),
  play: wrap('<path d="M11 5L6 9H2v6h4l5 4z"/><path d="M15.5 8.5a5 5 0 0 1 0 7"/>'),
  logo: `<svg class="logo" viewBox="0 0 32 32" width="32" height="32" aria-hidden="true"><defs><linearGradient id="lg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#7aa2ff"/><stop offset="1" stop-color="#a78bfa"/></linearGradient></defs><rect width="32" height="32" rx="9" fill="url(#lg)"/><circle cx="11" cy="13" r="3.2" fill="#fff"/><circle cx="21" cy="13" r="3.2" fill="#fff" opacity=".85"/><path d="M5.5 24a5.5 5.5 0 0 1 11 0M15.5 24a5.5 5.5 0 0 1 11 0" stroke="#fff" stroke-width="2.2" fill="none" stroke-linecap="round"/></svg>`,
};

export type IconName = keyof typeof icons;
