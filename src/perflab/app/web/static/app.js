// The try-it page: send the chosen photo to the API and show what comes back.
// Each action (blur, classify) is one entry in ACTIONS: the form, status line and error
// display are shared, so adding an action means adding an entry and a radio button.
"use strict";

const ACTIONS = {
  blur: {
    url: "/api/blur",
    field: "image",
    show(answer) {
      const count = answer.faces.length;
      const image = document.getElementById("result-image");
      image.src = "data:image/jpeg;base64," + answer.data;
      image.hidden = false;
      const summary = document.getElementById("summary");
      summary.textContent = count === 1 ? "1 face blurred" : count + " faces blurred";
      summary.dataset.faces = String(count);
    },
  },
  classify: {
    url: "/predict",
    field: "file",
    show(answer) {
      document.getElementById("result-image").hidden = true;
      const summary = document.getElementById("summary");
      const percent = (answer.score * 100).toFixed(1);
      summary.textContent = answer.prediction + " (" + percent + "% sure)";
      summary.dataset.prediction = answer.prediction;
    },
  },
};

function chosenAction(form) {
  const checked = form.querySelector("input[name=action]:checked");
  return ACTIONS[checked ? checked.value : "blur"];
}

async function errorMessage(response) {
  // The API answers errors as {"error": {"code", "message"}}; a proxy might not.
  try {
    const body = await response.json();
    return body.error.message;
  } catch {
    return "the server answered " + response.status;
  }
}

async function submit(event) {
  event.preventDefault();
  const form = event.target;
  const file = document.getElementById("image").files[0];
  const status = document.getElementById("status");
  const result = document.getElementById("result");
  const button = document.getElementById("submit");
  if (!file) {
    status.textContent = "Choose a photo first.";
    return;
  }
  const action = chosenAction(form);
  const body = new FormData();
  body.append(action.field, file);
  button.disabled = true;
  result.hidden = true;
  status.textContent = "Working...";
  status.className = "";
  try {
    const response = await fetch(action.url, {
      method: "POST",
      body,
      headers: { Accept: "application/json" },
    });
    if (!response.ok) {
      throw new Error(await errorMessage(response));
    }
    action.show(await response.json());
    result.hidden = false;
    status.textContent = "Done.";
  } catch (error) {
    status.textContent = "Failed: " + error.message;
    status.className = "error";
  } finally {
    button.disabled = false;
  }
}

document.getElementById("upload").addEventListener("submit", submit);
