// Small enhancements of the server-rendered pages; every page works without them.
(function () {
  "use strict";

  const POLL_MS = 2000;

  // Times: the server writes UTC; show them in the reader's own time zone, keeping UTC in the tooltip.
  const localFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function localizeTimes(root) {
    root.querySelectorAll("time[data-local][datetime]").forEach((element) => {
      const when = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) return;
      element.title = element.textContent.trim();
      element.textContent = localFormat.format(when);
    });
  }

  // Countdowns to the end of a grant, updated every second.
  function spoken(ms) {
    if (ms <= 0) return "ended";
    const total = Math.floor(ms / 1000);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h} h ${pad(m)} min` : m ? `${m} min ${pad(s)} s` : `${s} s`;
  }
  function tickCountdowns() {
    document.querySelectorAll("[data-countdown]").forEach((element) => {
      const end = new Date(element.dataset.countdown).getTime();
      element.textContent = spoken(end - Date.now());
    });
  }

  // Character counters of text areas with a maxlength.
  function setupCounters(root) {
    root.querySelectorAll("[data-counter-for]").forEach((counter) => {
      const field = document.getElementById(counter.dataset.counterFor);
      if (!field) return;
      const max = Number(field.getAttribute("maxlength")) || 0;
      const update = () => {
        const used = field.value.length;
        counter.textContent = max ? `${used} / ${max}` : `${used}`;
        counter.classList.toggle("over", max && used > max);
      };
      field.addEventListener("input", update);
      update();
    });
  }

  // Ticket references checked against the role's pattern as people type (the server checks again).
  function setupPatternChecks(root) {
    root.querySelectorAll("input[data-pattern]").forEach((input) => {
      const output = root.querySelector(`[data-check-for="${input.id}"]`);
      let pattern;
      try {
        pattern = new RegExp(input.dataset.pattern);
      } catch (error) {
        return;
      }
      const update = () => {
        const value = input.value.trim();
        if (!output) return;
        if (!value) {
          output.textContent = "";
          output.className = "live-check";
          input.removeAttribute("aria-invalid");
          return;
        }
        const ok = pattern.test(value);
        output.textContent = ok ? "✓ Looks right." : `✗ Does not match ${input.dataset.pattern}.`;
        output.className = `live-check ${ok ? "good" : "bad"}`;
        input.setAttribute("aria-invalid", ok ? "false" : "true");
      };
      input.addEventListener("input", update);
      update();
    });
  }

  // Quick duration choices fill the minutes field; typing a custom value clears them.
  function setupDurations(root) {
    const buttons = root.querySelectorAll("button[data-duration]");
    buttons.forEach((button) => {
      const field = document.getElementById(button.dataset.target);
      if (!field) return;
      const sync = () => {
        buttons.forEach((other) => other.setAttribute("aria-pressed", String(other.dataset.duration === field.value)));
      };
      button.addEventListener("click", () => {
        field.value = button.dataset.duration;
        sync();
      });
      field.addEventListener("input", sync);
      sync();
    });
  }

  // The start time is shown only when "at a chosen time" is picked, in the reader's time zone.
  function setupStart(root) {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    root.querySelectorAll('input[type="hidden"][name="tz"]').forEach((input) => {
      input.value = zone;
    });
    root.querySelectorAll("[data-tz-hint]").forEach((hint) => {
      hint.textContent = `Times are in your time zone, ${zone}.`;
    });
    root.querySelectorAll("[data-show-when]").forEach((block) => {
      const radios = root.querySelectorAll(`input[name="${block.dataset.showSource}"]`);
      const update = () => {
        const chosen = Array.from(radios).find((radio) => radio.checked);
        const hasError = block.querySelector(".has-error");
        block.hidden = !hasError && (!chosen || chosen.value !== block.dataset.showWhen);
      };
      radios.forEach((radio) => radio.addEventListener("change", update));
      update();
    });
  }

  // Copy buttons: each copies the text of the element its data-copy names.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    const status = document.getElementById("copy-status");
    const label = button.textContent;
    navigator.clipboard.writeText(source.textContent).then(
      () => {
        button.textContent = "Copied ✓";
        if (status) status.textContent = "Copied to the clipboard.";
        setTimeout(() => { button.textContent = label; }, 2000);
      },
      () => {
        // No clipboard access: select the text so the reader can copy it by hand.
        window.getSelection().selectAllChildren(source);
        if (status) status.textContent = "Select and copy the text by hand.";
      },
    );
  });

  // Live regions: while a request moves, fetch its live part and swap it in when it changed.
  function enhance(root) {
    localizeTimes(root);
    setupCounters(root);
    setupPatternChecks(root);
    setupDurations(root);
    setupStart(root);
  }
  function poll(region) {
    const url = region.dataset.pollUrl;
    if (!url) return;
    setTimeout(async () => {
      let next = region;
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (response.ok) {
          const holder = document.createElement("div");
          holder.innerHTML = await response.text();
          const fresh = holder.firstElementChild;
          if (fresh && fresh.dataset.version !== region.dataset.version) {
            region.replaceWith(fresh);
            enhance(fresh);
            tickCountdowns();
            next = fresh;
          }
        }
      } catch (error) {
        // The network or the portal hiccuped: the next tick tries again.
      } finally {
        if (next.isConnected) poll(next);
      }
    }, POLL_MS);
  }

  // Decisions in the queue: post in the background and swap in the queue the server answers with.
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-swap]");
    if (!form || event.defaultPrevented) return;
    event.preventDefault();
    form.querySelectorAll("button").forEach((button) => { button.disabled = true; });
    try {
      const response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const main = fresh.querySelector("main");
      if (!response.ok || !main) throw new Error(String(response.status));
      document.querySelector("main").replaceChildren(...main.childNodes);
      const nav = fresh.querySelector(".site-header nav");
      const currentNav = document.querySelector(".site-header nav");
      if (nav && currentNav) currentNav.replaceWith(nav);
      enhance(document.querySelector("main"));
      const note = document.querySelector("main .messages");
      if (note) { note.tabIndex = -1; note.focus(); }
    } catch (error) {
      // Fall back to an ordinary submission, which shows whatever went wrong.
      form.removeAttribute("data-swap");
      form.submit();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    enhance(document);
    tickCountdowns();
    setInterval(tickCountdowns, 1000);
    document.querySelectorAll("[data-poll-url]").forEach(poll);
  });
})();
