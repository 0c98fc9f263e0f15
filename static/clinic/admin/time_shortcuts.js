// The admin's time shortcuts ("Choose a time") on the 24-hour clock the clinic uses everywhere.
// Loaded with `defer`: it runs after DateTimeShortcuts.js and before that script builds its
// clocks on the window's `load` event.
"use strict";
if (window.DateTimeShortcuts) {
  window.DateTimeShortcuts.clockHours.default_ = [
    ["Now", -1],
    ["00:00", 0],
    ["06:00", 6],
    ["12:00", 12],
    ["18:00", 18],
  ];
}
