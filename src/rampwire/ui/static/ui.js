// rampwire dashboard: the pages work without this; it only asks before a replay.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.action.endsWith("/replay")) {
    if (!window.confirm("Send this event again to its endpoint?")) event.preventDefault();
  }
});
