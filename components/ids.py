"""Component ids shared by more than one module: the pages that lay them out, the other pages and assets/*.js
scripts that read them, and the tests, benchmarks and scripts that drive or check them.

Only names and strings: importing this module registers no page and builds no app. The values are part of the
product's surface -- URLs, assets/app.css and the clientside scripts in assets/ use them -- and never change with a
rename of the constant. An id used by one page only stays a constant of that page.
"""

# --- App shell (app.py; the presentation switch is laid out by components/layout.py) ----------------------------------
CHOSEN_CUTOFFS = "chosen-cutoffs"
DATASET_BANNER = "dataset-banner"
DATASET_ID = "dataset-id"
GLOBAL_ALERT = "global-alert"
PRESENTATION = "presentation"
URL = "url"
VIEW_STATE = "view-state"

# --- Data page (pages/data.py) ----------------------------------------------------------------------------------------
MAPPING_STEP = "mapping-step"
PREVIEW = "preview"
PREVIEW_GRID = "preview-grid"
REMOVE_DATA = "remove-data"
TIME_UNIT = "time-unit"
UPLOAD = "upload"
UPLOAD_FEEDBACK = "upload-feedback"
USE_DEMO = "use-demo"

# --- Survival page (pages/survival.py) --------------------------------------------------------------------------------
CP_AT_CUTOFF = "cp-at-cutoff"
CP_CHART = "cp-chart"
CP_FULL_KEY = "cp-full-key"
CP_RUN = "cp-run"
CP_SUMMARY = "cp-summary"
CP_TICKET = "cp-ticket"
CP_USE = "cp-use"
KM_ALERT = "km-alert"
KM_CARD_FOR = "km-card-for"
KM_CI = "km-ci"
KM_CUTOFF = "km-cutoff"
KM_CUTOFF_RESET = "km-cutoff-reset"
KM_DRAWN = "km-drawn"
KM_ENDPOINT = "km-endpoint"
KM_GRAPH = "km-graph"
KM_GRID_VIEW = "km-grid-view"
KM_SLIDER = "km-slider"
KM_TABLE = "km-table"
KM_VAR = "km-var"

# --- Cox page (pages/cox.py) ------------------------------------------------------------------------------------------
COX_ENDPOINT = "cox-endpoint"
COX_FOREST = "cox-forest"
COX_FORMS_TOGGLE = "cox-forms-toggle"   # opens the per-candidate form rows
COX_MULTI_TABLE = "cox-multi-table"
COX_TABLE = "cox-table"
COX_VARS = "cox-vars"
COX_VARS_BOX = "cox-vars-box"

# --- Response page (pages/response.py) --------------------------------------------------------------------------------
RESPONSE_KM = "response-km"
RESPONSE_KM_NOTE = "response-km-note"
RESPONSE_LANDMARK = "response-landmark"
RESPONSE_TABLE = "response-table"

# --- Baseline page (pages/baseline.py) --------------------------------------------------------------------------------
BASELINE_BY = "baseline-by"
BASELINE_TABLE = "baseline-table"

# --- Safety page (pages/safety.py) ------------------------------------------------------------------------------------
AE_BY = "ae-by"
AE_CHART = "ae-chart"
AE_TABLE = "ae-table"

# --- Meta-analysis page (pages/meta.py) -------------------------------------------------------------------------------
META_COUNT_CONTROLS = "meta-count-controls"
META_DATA_FEEDBACK = "meta-data-feedback"
META_DATA_INFO = "meta-data-info"
META_DERIVE_PCT = "meta-derive-pct"
META_DERIVE_SE = "meta-derive-se"
META_EDIT_SOURCE = "meta-edit-source"
META_EDITS = "meta-edits"
META_EXCLUDE = "meta-exclude"
META_FOREST = "meta-forest"
META_FOREST_PNG = "meta-forest-png"
META_FOREST_SVG = "meta-forest-svg"
META_GRID = "meta-grid"
META_GRID_BOX = "meta-grid-box"            # the box the grid is made in when scrolled to
META_HK = "meta-hk"
META_METHOD = "meta-method"
META_MH = "meta-mh"
META_MODERATOR = "meta-moderator"
META_OUR_ESTIMATE = "meta-our-estimate"
META_OUTCOME = "meta-outcome"
META_OUTCOME_NOTE = "meta-outcome-note"
META_POOL_SIZE = "meta-pool-size"
META_RESTORE = "meta-restore"
META_SUBGROUP = "meta-subgroup"
META_SUMMARY = "meta-summary"
META_TABS = "meta-tabs"
META_TSA_ALPHA = "meta-tsa-alpha"
META_TSA_BETA = "meta-tsa-beta"
META_TSA_CONCLUSION = "meta-tsa-conclusion"
META_TSA_FUTILITY = "meta-tsa-futility"
META_TSA_GRAPH = "meta-tsa-graph"
META_TSA_PANEL = "meta-tsa-panel"
META_TSA_PAPER = "meta-tsa-paper"
META_TSA_RRR = "meta-tsa-rrr"
META_UPLOAD = "meta-upload"
