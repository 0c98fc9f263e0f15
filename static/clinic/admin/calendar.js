// The front desk's calendar (templates/admin/calendar.html): EventCalendar, started from the
// data- attributes of #clinic-calendar. Every change is a POST to the calendar's endpoints,
// which go through clinic/booking.py; the calendar fetches its events again after each one and
// every 30 seconds (data-refresh-seconds). Times travel as clinic-local wall-clock time
// ("2026-01-05T10:00"): the calendar runs in the clinic's offset from UTC, so the blocks and
// the line at the current time sit where the clinic's clock says.
"use strict";
(function () {
  const SEARCH_DELAY_MS = 250;
  const SEARCH_MIN = 2;
  const SESSION_ENDED = "Your session has ended: reload the page to sign in again. Nothing was changed.";
  const FAULT = "The server could not do this; nothing was changed. Please try again";
  const UNREACHABLE = "The clinic's server could not be reached. Nothing was changed.";

  function start() {
    const root = document.getElementById("clinic-calendar");
    if (!root || !window.EventCalendar) {
      return;
    }
    const data = root.dataset;
    const resources = JSON.parse(data.resources);
    const doctorIds = resources.map((resource) => resource.id);
    const canBook = data.canBook === "true";
    const refreshMs = Math.max(1, Number(data.refreshSeconds) || 30) * 1000;
    // Automatic refreshes stop once nobody has touched the page for the staff session's idle
    // window, so an unattended screen lets the session end as any other admin page does.
    const idleMs = Math.max(60, Number(data.idleSeconds || 900) - 60) * 1000;
    let lastActivity = Date.now();

    const message = document.getElementById("calendar-message");
    const panel = document.getElementById("calendar-panel");
    const visit = {
      section: document.getElementById("panel-appointment"),
      title: document.getElementById("panel-appointment-title"),
      actions: document.getElementById("panel-actions"),
      cancel: document.getElementById("panel-cancel"),
      cancelYes: document.getElementById("panel-cancel-yes"),
      cancelNo: document.getElementById("panel-cancel-no"),
      move: document.getElementById("panel-move"),
      moveDoctor: document.getElementById("move-doctor"),
      moveStart: document.getElementById("move-start"),
      record: document.getElementById("panel-record"),
      recordLink: document.getElementById("panel-record-link"),
    };
    const book = {
      section: document.getElementById("panel-book"),
      title: document.getElementById("panel-book-title"),
      form: document.getElementById("book-form"),
      doctor: document.getElementById("book-doctor"),
      start: document.getElementById("book-start"),
      search: document.getElementById("book-search"),
      results: document.getElementById("book-results"),
      reason: document.getElementById("book-reason"),
      confirm: document.getElementById("book-confirm"),
    };

    let appointments = new Map(); // id → the appointment's event, from the last fetch
    let selected = null; // the appointment shown in the panel
    let shownMoves = null; // the moves its buttons offer
    let returnFocus = null;
    let lastFetch = { key: null, events: [] };
    let searchTimer = null;
    let searchNumber = 0;

    // --- Small helpers -----------------------------------------------------------------

    const pad = (n) => String(n).padStart(2, "0");
    // A calendar date (its fields are the clinic's wall clock) as "YYYY-MM-DDTHH:MM".
    const wall = (d) =>
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    const dayOf = (d) => wall(d).slice(0, 10);
    const urlFor = (template, id) => template.replace("/0/", `/${encodeURIComponent(id)}/`);

    function element(tag, className, text) {
      const node = document.createElement(tag);
      if (className) {
        node.className = className;
      }
      if (text !== undefined && text !== null) {
        node.textContent = text;
      }
      return node;
    }

    function say(text, kind) {
      message.textContent = text || "";
      message.dataset.kind = kind || "";
    }

    function fillDoctors(select) {
      select.replaceChildren(
        ...resources.map((resource) => {
          const option = element("option", "", resource.title);
          option.value = resource.id;
          return option;
        }),
      );
    }

    function whenText(event) {
      const from = new Date(event.start);
      const to = new Date(event.end);
      const date = from.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" });
      return `${date}, ${event.start.slice(11, 16)}–${event.end.slice(11, 16)}${dayOf(from) === dayOf(to) ? "" : ` (${to.toLocaleDateString()})`}`;
    }

    // --- Talking to the server ---------------------------------------------------------

    async function readAnswer(response) {
      const type = response.headers.get("Content-Type") || "";
      if (!type.includes("application/json")) {
        // A redirect to the sign-in page, or a server fault: nothing this page can read.
        const detail = response.redirected || response.ok ? SESSION_ENDED : `${FAULT} (${response.status})`;
        return { ok: false, status: response.status, detail, body: {} };
      }
      let body = {};
      try {
        body = await response.json();
      } catch (error) {
        body = {};
      }
      const fallback = response.ok ? "Done." : `The change was refused (${response.status}).`;
      return { ok: response.ok, status: response.status, detail: body.detail || fallback, body };
    }

    async function send(url, fields) {
      try {
        const response = await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": data.csrfToken, Accept: "application/json" },
          body: new URLSearchParams(fields),
        });
        return await readAnswer(response);
      } catch (error) {
        return { ok: false, status: 0, detail: UNREACHABLE, body: {} };
      }
    }

    async function fetchEvents(info) {
      const params = new URLSearchParams({ start: dayOf(info.start), end: dayOf(info.end), doctors: doctorIds.join(",") });
      if (data.cancelled === "true") {
        params.set("cancelled", "true");
      }
      const key = params.toString();
      let answer;
      try {
        const response = await fetch(`${data.eventsUrl}?${key}`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        answer = await readAnswer(response);
      } catch (error) {
        answer = { ok: false, detail: UNREACHABLE };
      }
      if (!answer.ok) {
        say(answer.detail, "error");
        return lastFetch.key === key ? lastFetch.events : [];
      }
      const events = answer.body.events;
      lastFetch = { key, events };
      appointments = new Map(
        events.filter((event) => event.extendedProps.kind === "appointment").map((event) => [event.id, event]),
      );
      if (selected !== null) {
        showVisit(false);
      }
      return events;
    }

    function refresh() {
      calendar.refetchEvents();
    }

    // --- The panel: a visit --------------------------------------------------------------

    function openPanel(section, focusTarget) {
      if (panel.hidden) {
        returnFocus = document.activeElement;
      }
      visit.section.hidden = section !== visit.section;
      book.section.hidden = section !== book.section;
      panel.hidden = false;
      focusTarget.focus();
    }

    function closePanel() {
      panel.hidden = true;
      visit.section.hidden = true;
      book.section.hidden = true;
      selected = null;
      shownMoves = null;
      if (returnFocus && document.contains(returnFocus)) {
        returnFocus.focus();
      }
      returnFocus = null;
    }

    function openVisit(id) {
      selected = id;
      shownMoves = null;
      visit.cancel.hidden = true;
      showVisit(true);
      if (selected !== null) {
        openPanel(visit.section, visit.title);
      }
    }

    // Fill the panel from the appointment's latest event; `fresh` also resets the move form.
    function showVisit(fresh) {
      const event = appointments.get(selected);
      if (!event) {
        if (!panel.hidden && !visit.section.hidden) {
          closePanel();
        }
        return;
      }
      const props = event.extendedProps;
      visit.title.textContent = props.patientName;
      const facts = {
        when: whenText(event),
        doctorName: props.doctorName,
        statusLabel: props.statusLabel,
        reason: props.reason || "—",
        phone: props.phone || "—",
        email: props.email || "—",
        noShows: String(props.noShows),
      };
      for (const [name, text] of Object.entries(facts)) {
        visit.section.querySelector(`[data-field="${name}"]`).textContent = text;
      }
      visit.section.querySelector('[data-field="statusLabel"]').className = `clinic-badge clinic-badge--${props.status}`;

      const moves = JSON.stringify(props.moves);
      if (moves !== shownMoves) {
        shownMoves = moves;
        visit.actions.replaceChildren(
          ...props.moves.map((move) => {
            const button = element("button", "button", move.label);
            button.type = "button";
            button.dataset.status = move.status;
            return button;
          }),
        );
        if (!props.moves.some((move) => move.status === "cancelled")) {
          visit.cancel.hidden = true;
        }
        if (!props.moves.length) {
          visit.actions.append(element("p", "clinic-calendar__hint", "No change of status is open now."));
        }
      }

      visit.move.hidden = !event.startEditable;
      if (fresh) {
        fillDoctors(visit.moveDoctor);
        visit.moveDoctor.value = props.doctor;
        visit.moveStart.value = event.start.slice(0, 16);
      }
      visit.record.hidden = !data.recordUrl;
      if (data.recordUrl) {
        visit.recordLink.href = urlFor(data.recordUrl, event.id);
      }
    }

    async function moveStatus(status) {
      const id = selected;
      const answer = await send(urlFor(data.statusUrl, id), { status });
      say(answer.detail, answer.ok ? "success" : "error");
      visit.cancel.hidden = true;
      visit.title.focus();
      refresh();
    }

    visit.actions.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-status]");
      if (!button) {
        return;
      }
      if (button.dataset.status === "cancelled") {
        visit.cancel.hidden = false;
        visit.cancelNo.focus();
        return;
      }
      moveStatus(button.dataset.status);
    });
    visit.cancelYes.addEventListener("click", () => moveStatus("cancelled"));
    visit.cancelNo.addEventListener("click", () => {
      visit.cancel.hidden = true;
      const cancel = visit.actions.querySelector('button[data-status="cancelled"]');
      (cancel || visit.title).focus();
    });

    visit.move.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = { start: visit.moveStart.value };
      if (visit.moveDoctor.value && visit.moveDoctor.value !== appointments.get(selected)?.extendedProps.doctor) {
        fields.doctor = visit.moveDoctor.value;
      }
      const answer = await send(urlFor(data.moveUrl, selected), fields);
      say(answer.detail, answer.ok ? "success" : "error");
      if (answer.ok) {
        shownMoves = null;
        calendar.setOption("date", fields.start.slice(0, 10));
      }
      refresh();
    });

    // --- The panel: a new booking ---------------------------------------------------------

    function openBooking(doctorId, startText) {
      selected = null;
      fillDoctors(book.doctor);
      book.doctor.value = doctorId || doctorIds[0];
      book.start.value = startText;
      book.search.value = "";
      book.reason.value = "";
      book.confirm.checked = false;
      book.results.replaceChildren(element("p", "clinic-calendar__hint", "Type at least two letters."));
      openPanel(book.section, book.search);
    }

    function patientChoice(patient) {
      const label = element("label", "clinic-calendar__patient");
      const radio = element("input");
      radio.type = "radio";
      radio.name = "patient";
      radio.value = String(patient.id);
      label.append(radio, " ", element("span", "clinic-calendar__patient-name", patient.name));
      const contact = [patient.phone, patient.email].filter(Boolean).join(" · ");
      if (contact) {
        label.append(element("span", "clinic-calendar__patient-contact", contact));
      }
      if (patient.noShows) {
        label.append(
          element("span", "clinic-ev__badge", `${patient.noShows} no-show${patient.noShows === 1 ? "" : "s"}`),
        );
      }
      return label;
    }

    async function findPatients() {
      const term = book.search.value.trim();
      const number = ++searchNumber;
      if (term.length < SEARCH_MIN) {
        book.results.replaceChildren(element("p", "clinic-calendar__hint", "Type at least two letters."));
        return;
      }
      let answer;
      try {
        const response = await fetch(`${data.patientsUrl}?${new URLSearchParams({ q: term })}`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        answer = await readAnswer(response);
      } catch (error) {
        answer = { ok: false, detail: UNREACHABLE };
      }
      if (number !== searchNumber) {
        return;
      }
      if (!answer.ok) {
        say(answer.detail, "error");
        return;
      }
      const found = answer.body.results;
      book.results.replaceChildren(
        ...(found.length ? found.map(patientChoice) : [element("p", "clinic-calendar__hint", "No patient matches.")]),
      );
    }

    book.search.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(findPatients, SEARCH_DELAY_MS);
    });
    book.search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        clearTimeout(searchTimer);
        findPatients();
      }
    });

    book.form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const patient = book.form.querySelector('input[name="patient"]:checked');
      const answer = await send(data.bookUrl, {
        patient: patient ? patient.value : "",
        doctor: book.doctor.value,
        start: book.start.value,
        reason: book.reason.value,
        confirm: book.confirm.checked ? "true" : "",
      });
      say(answer.detail, answer.ok ? "success" : "error");
      if (answer.ok) {
        closePanel();
      }
      refresh();
    });

    panel.addEventListener("click", (event) => {
      if (event.target.closest("[data-close]")) {
        closePanel();
      }
    });
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        closePanel();
      }
    });

    const newButton = document.getElementById("calendar-new");
    if (newButton) {
      newButton.addEventListener("click", () => {
        const shown = calendar.getView();
        openBooking(doctorIds[0], `${dayOf(shown.currentStart)}T${data.slotMin}`);
      });
    }

    // --- Dragging a block ----------------------------------------------------------------

    async function dropped(info) {
      const fields = { start: wall(info.event.start) };
      if (info.newResource) {
        fields.doctor = info.newResource.id;
      }
      const answer = await send(urlFor(data.moveUrl, info.event.id), fields);
      if (!answer.ok) {
        info.revert();
      }
      say(answer.detail, answer.ok ? "success" : "error");
      shownMoves = null;
      refresh();
    }

    // --- The calendar --------------------------------------------------------------------

    function blockContent(info) {
      const props = info.event.extendedProps;
      if (!props || props.kind !== "appointment") {
        return "";
      }
      const head = element("span", "clinic-ev__line");
      head.append(
        element("span", "clinic-ev__time", info.timeText.split(/\s*[–-]\s*/)[0]),
        " ",
        element("span", "clinic-ev__patient", props.patientName),
      );
      const status = element("span", "clinic-ev__line");
      status.append(element("span", "clinic-ev__status", props.statusLabel));
      if (props.noShows) {
        status.append(" ", element("span", "clinic-ev__badge", `${props.noShows} no-show${props.noShows === 1 ? "" : "s"}`));
      }
      const nodes = [head, status];
      if (props.typeName) {
        nodes.push(element("span", "clinic-ev__type", props.typeName));
      }
      if (props.reason) {
        nodes.push(element("span", "clinic-ev__reason", props.reason));
      }
      return { domNodes: nodes };
    }

    const minutes = Number(data.slotMinutes) || 30;
    const calendar = EventCalendar.create(root, {
      view: data.view === "week" ? "timeGridWeek" : "resourceTimeGridDay",
      date: data.date,
      timeZone: data.timeZone,
      firstDay: 1,
      resources,
      allDaySlot: false,
      nowIndicator: true,
      pointer: true,
      height: "auto",
      slotMinTime: data.slotMin,
      slotMaxTime: data.slotMax,
      scrollTime: data.slotMin,
      // Room for a block's three lines whatever the step of the grid.
      slotHeight: Math.max(20, Math.min(48, (48 * minutes) / 30)),
      slotDuration: { minutes },
      snapDuration: { minutes },
      slotLabelFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      headerToolbar: { start: "prev,next today", center: "title", end: "" },
      columnWidth: data.view === "week" ? undefined : "minmax(9rem, 1fr)",
      editable: false,
      eventDurationEditable: false,
      eventSources: [{ events: fetchEvents }],
      eventContent: blockContent,
      eventClick(info) {
        if (info.event.extendedProps.kind === "appointment") {
          openVisit(info.event.id);
        }
      },
      dateClick(info) {
        if (canBook) {
          openBooking(info.resource ? info.resource.id : doctorIds[0], wall(info.date));
        }
      },
      eventDrop: dropped,
      datesSet(info) {
        // The filters and the address follow the day shown, so a reload stays on it.
        const shown = dayOf(info.view.currentStart);
        const dateInput = document.getElementById("id_date");
        if (dateInput) {
          dateInput.value = shown;
        }
        const address = new URL(window.location.href);
        address.searchParams.set("date", shown);
        window.history.replaceState(null, "", address);
      },
    });

    for (const kind of ["pointerdown", "keydown", "wheel", "touchstart"]) {
      document.addEventListener(
        kind,
        () => {
          const wasIdle = Date.now() - lastActivity > idleMs;
          lastActivity = Date.now();
          if (wasIdle) {
            refresh();
          }
        },
        { passive: true },
      );
    }
    window.setInterval(() => {
      if (!document.hidden && Date.now() - lastActivity <= idleMs) {
        refresh();
      }
    }, refreshMs);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && Date.now() - lastActivity <= idleMs) {
        refresh();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
