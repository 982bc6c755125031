// medocr review: the queue page and the certificate view (plain JavaScript, no library).
// Every text from the server goes into the page through textContent, never as HTML.
"use strict";

(function () {
  const page = document.body.dataset.page;
  if (page === "queue") {
    queuePage();
  } else if (page === "certificate") {
    certificatePage();
  }

  function $(id) {
    return document.getElementById(id);
  }

  function queuePage() {
    const params = new URLSearchParams(location.search);
    const filters = {};
    for (const name of ["kind", "batch", "order"]) {
      const value = params.get(name);
      if (value) filters[name] = value;
    }
    const client = randomId();
    const answer = $("answer");
    let current = null; // the item on screen
    let pristine = true; // no key pressed on this item yet: 1-5 choose an alternative
    let busy = false;

    answer.addEventListener("keydown", onKey);
    answer.addEventListener("mousedown", () => { pristine = false; });
    answer.addEventListener("paste", () => { pristine = false; });
    $("alternatives").addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (button && current) save("choose", current.alternatives[Number(button.dataset.index)]);
    });
    $("crop").addEventListener("error", () => {
      $("crop").hidden = true;
      const missing = $("crop-missing");
      missing.textContent = "The scan of this field is not available (start medocr review " +
        "with --images FOLDER if the scans moved).";
      missing.hidden = false;
    });

    const start = params.get("item");
    load(start ? "/api/item/" + encodeURIComponent(start) + "?" + query({})
      : "/api/next?" + query({}));

    function query(extra) {
      const q = new URLSearchParams(filters);
      for (const [key, value] of Object.entries(extra)) q.set(key, value);
      return q.toString();
    }

    async function call(url, options) {
      const init = Object.assign({ credentials: "same-origin" }, options || {});
      init.headers = Object.assign({ "X-Medocr-Client": client }, init.headers || {});
      let response;
      try {
        response = await fetch(url, init);
      } catch (error) {
        throw new Error("the station does not answer (is medocr review still running?)");
      }
      let data = null;
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
      if (response.status === 403 && !(data && data.error)) {
        throw new Error("refused: open the address medocr review printed (a new token at " +
          "each start)");
      }
      if (!response.ok) {
        throw new Error(data && data.error ? data.error : "error " + response.status);
      }
      return data;
    }

    async function load(url) {
      busy = true;
      try {
        const data = await call(url);
        show(data.item, data.counts);
      } catch (error) {
        say(error.message, true);
      } finally {
        busy = false;
      }
    }

    async function save(action, text) {
      if (!current || busy) return;
      busy = true;
      answer.readOnly = true;
      const body = Object.assign({ id: current.id, action: action, text: text }, filters);
      try {
        const data = await call("/api/save", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        const what = action === "illegible" ? "illegible" : action + " \u201c" + data.saved.text + "\u201d";
        say("Saved " + current.name + ": " + what, false);
        show(data.next, data.counts);
      } catch (error) {
        say("Not saved: " + error.message, true);
      } finally {
        answer.readOnly = false;
        busy = false;
      }
    }

    function skip() {
      if (!current || busy) return;
      say("Skipped " + current.name, false);
      load("/api/next?" + query({ after: current.id }));
    }

    function onKey(event) {
      if (event.isComposing || event.altKey || event.ctrlKey || event.metaKey) {
        if (!["Control", "Alt", "Meta", "Shift"].includes(event.key)) pristine = false;
        return;
      }
      const key = event.key;
      if (key === "Tab" && !event.shiftKey) {
        event.preventDefault();
        skip();
      } else if (key === "Enter") {
        event.preventDefault();
        save("correct", answer.value);
      } else if (key === "Escape") {
        event.preventDefault();
        save("illegible", "");
      } else if (pristine && /^[1-5]$/.test(key) && current &&
                 Number(key) <= current.alternatives.length) {
        event.preventDefault();
        save("choose", current.alternatives[Number(key) - 1]);
      } else if (key !== "Shift" && key !== "Tab") {
        pristine = false;
      }
    }

    function show(item, counts) {
      showCounts(counts);
      current = item;
      pristine = true;
      $("item").hidden = !item;
      $("empty").hidden = Boolean(item);
      if (!item) {
        document.title = "medocr review: done";
        return;
      }
      $("field-name").textContent = item.name;
      $("field-kind").textContent = item.kind;
      $("field-source").textContent = item.path + (item.page_index ? " p. " + (item.page_index + 1) : "");
      $("field-confidence").textContent = Math.round(item.confidence * 100) + " %";
      $("certificate-link").href = "/certificate/" + item.id + "?" + query({});
      const crop = $("crop");
      crop.hidden = false;
      $("crop-missing").hidden = true;
      crop.alt = "the field " + item.name + " on its scan";
      crop.src = "/crop/" + item.id + ".png";
      $("reading").textContent = item.text;
      showAlternatives(item.alternatives);
      const previous = $("previous");
      previous.hidden = !item.correction;
      if (item.correction) {
        const c = item.correction;
        previous.textContent = "Already decided: " + c.action +
          (c.action === "illegible" ? "" : " \u201c" + c.text + "\u201d") +
          " by " + c.reviewer + " at " + c.saved_at + " (saving again replaces it)";
      }
      if (item.error) say("This field could not be read: " + item.error, true);
      answer.value = item.text;
      answer.focus();
      answer.setSelectionRange(answer.value.length, answer.value.length);
    }

    function showAlternatives(alternatives) {
      const list = $("alternatives");
      list.replaceChildren();
      alternatives.forEach((text, index) => {
        const entry = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.tabIndex = -1;
        button.dataset.index = String(index);
        const key = document.createElement("kbd");
        key.textContent = String(index + 1);
        const value = document.createElement("span");
        value.className = "text";
        value.textContent = text;
        button.append(key, " ", value);
        entry.append(button);
        list.append(entry);
      });
    }

    function showCounts(counts) {
      if (!counts) return;
      $("counter").textContent = counts.done + " done \u00b7 " + counts.remaining +
        " to review \u00b7 " + counts.total + " in this queue";
    }
  }

  function certificatePage() {
    const back = $("back");
    back.focus();
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") location.href = back.href;
    });
    const view = $("page-view");
    view.addEventListener("error", () => {
      view.hidden = true;
      $("page-missing").hidden = false;
    });
  }

  function say(message, error) {
    const status = $("status");
    status.textContent = message;
    status.className = error ? "error" : "";
  }

  function randomId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
})();
