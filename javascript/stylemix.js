// StyleMix: tooltips for our controls and a hook that refreshes the Lora cards after a LoRA is saved.
// Everything is prefixed "stylemix" (one global namespace is shared by every extension) and only touches
// elements whose id starts with "stylemix_" (the StyleMix tab) or "script_stylemix_batch_restyle_" (the Script).

const stylemixTooltips = {
    script_stylemix_batch_restyle_folder: "A folder of prepared images (Dataset panel); descriptions come from its manifest or .txt files",
    script_stylemix_batch_restyle_styles: "One style per line; each becomes its own training folder and trigger word",
    script_stylemix_batch_restyle_template: "Placeholders: {style}, {description}, {trigger}, {image}",
    script_stylemix_batch_restyle_canny_low: "Edges weaker than this are dropped (cv2.Canny low threshold)",
    script_stylemix_batch_restyle_canny_high: "Edges stronger than this are always kept (cv2.Canny high threshold)",
    script_stylemix_batch_restyle_seed_policy: "per-image: one seed per source image, shared by all styles; fixed: one seed for all; random: new seed per job",
    script_stylemix_batch_restyle_out_dir: "Each plan gets its own run folder in here; the same plan again resumes its run (finished images are skipped)",
    stylemix_epochs_strengths: "LoRA strengths for the grid columns, e.g. 0.4, 0.6, 0.8, 1",
    stylemix_epochs_save: "Writes the preferred weight into the LoRA's <name>.json sidecar (the Lora tab's card editor reads it)",
};

function stylemixApplyTooltips() {
    const root = gradioApp();
    for (const [id, text] of Object.entries(stylemixTooltips)) {
        const element = root.getElementById ? root.getElementById(id) : root.querySelector("#" + id);
        if (element && !element.title) {
            element.title = text;
        }
    }
}

// Re-scan the Lora cards of both generation tabs, as the hidden refresh buttons do.
function stylemixRefreshLoras() {
    for (const tab of ["txt2img", "img2img"]) {
        const button = gradioApp().querySelector("#" + tab + "_lora_extra_refresh_internal");
        if (button) {
            button.dispatchEvent(new Event("click"));
        }
    }
    return Array.from(arguments);  // usable as a pass-through `_js` hook
}

// After the tab saves a LoRA (Pool: "Saved …safetensors") or writes a card sidecar (Epochs: "Wrote …json"),
// its status box shows an "ok" message; refresh the Lora cards once per new message.
const stylemixSavedMessage = /^(Saved|Wrote) .*\.(safetensors|json)/;
const stylemixSeenSaves = new Set();
function stylemixWatchSaves() {
    let fresh = false;
    for (const message of gradioApp().querySelectorAll("[id^='stylemix_'][id$='_status'] .stylemix-msg-ok")) {
        const line = message.textContent.trim();
        if (stylemixSavedMessage.test(line) && !stylemixSeenSaves.has(line)) {
            stylemixSeenSaves.add(line);  // saved file names are unique (never overwritten), so is this line
            fresh = true;
        }
    }
    if (fresh) {
        stylemixRefreshLoras();
    }
}

onUiLoaded(stylemixApplyTooltips);
onAfterUiUpdate(() => {
    stylemixApplyTooltips();
    stylemixWatchSaves();
});
