/* s2p (Plex): what Plex knows of each scene, and the gap report, inside Stash.
 *
 * Plain JavaScript, no build step: React through PluginApi. The page never
 * calls s2p itself (Stash's Content-Security-Policy allows only Stash): every
 * question goes to Stash's own GraphQL as runPluginOperation, Stash runs the
 * plugin's bridge on its host, and the bridge calls s2p.
 *
 *  - a "Plex" tab on the scene page: the scene's Plex items, when Plex last
 *    fetched it from s2p, its live-sync queue entry and gap records, and the
 *    buttons Refresh in Plex, Scan folder in Plex and Why no match?
 *  - /plugins/s2p: the gap report, a tab per kind, with Dismiss/Restore,
 *    Compare now and, for a file Plex has and Stash lacks, Scan in Stash
 *    (Stash's own metadataScan: s2p itself never writes to Stash);
 *  - a navbar button with the number of open gaps;
 *  - a banner wherever s2p cannot be reached.
 */
(function () {
  "use strict";

  var api = window.PluginApi;
  if (!api) return;
  var React = api.React;
  var h = React.createElement;
  var Bootstrap = api.libraries.Bootstrap;
  var Router = api.libraries.ReactRouterDOM;

  var PLUGIN_ID = "s2p";
  var ROUTE = "/plugins/s2p";
  var TAB_KEY = "s2p-plex-panel";
  var PAGE_SIZE = 50;
  var COUNT_EVERY_MS = 10 * 60 * 1000;
  var KINDS = [
    ["plex_only", "In Plex, not in Stash"],
    ["stash_only", "In Stash, not in Plex"],
    ["matched_elsewhere", "Not matched by s2p"],
    ["stale", "Changed since Plex fetched"],
    ["no_match", "No match"],
    ["ambiguous", "Ambiguous"],
  ];
  var RUN_OPERATION =
    "mutation S2PRunPluginOperation($plugin_id: ID!, $args: Map) " +
    "{ runPluginOperation(plugin_id: $plugin_id, args: $args) }";
  var SCAN_IN_STASH =
    "mutation S2PScanInStash($input: ScanMetadataInput!) { metadataScan(input: $input) }";
  // The bridge's errors that mean "s2p is out of reach", not "this answer is no".
  var OUT_OF_REACH = /^s2p (cannot be reached|refused the plugin's token|at \S+ (refuses calls|has no plugin routes|does not serve))/;

  // ------------------------------------------------------------ talking to Stash

  function graphqlUrl() {
    var base = document.querySelector("base");
    var href = (base && base.getAttribute("href")) || "/";
    return href.replace(/\/?$/, "/") + "graphql";
  }

  function graphql(query, variables) {
    return fetch(graphqlUrl(), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query: query, variables: variables }),
    })
      .then(function (response) {
        return response.json().catch(function () {
          throw new Error("Stash answered " + response.status + " without JSON");
        });
      })
      .then(function (body) {
        if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
        return body.data;
      });
  }

  // The connection to s2p as the last answer showed it; the banner follows it.
  var connection = { problem: null, listeners: [] };
  function setProblem(problem) {
    if (connection.problem === problem) return;
    connection.problem = problem;
    connection.listeners.slice().forEach(function (listener) { listener(problem); });
  }

  function runOp(args) {
    return graphql(RUN_OPERATION, { plugin_id: PLUGIN_ID, args: args }).then(
      function (data) {
        setProblem(null);
        return data.runPluginOperation;
      },
      function (error) {
        var message = String((error && error.message) || error);
        if (OUT_OF_REACH.test(message)) setProblem(message);
        throw new Error(message);
      }
    );
  }

  function scanInStash(path) {
    return graphql(SCAN_IN_STASH, { input: { paths: [path] } });
  }

  function useConnection() {
    var state = React.useState(connection.problem);
    React.useEffect(function () {
      var listener = function (problem) { state[1](problem); };
      connection.listeners.push(listener);
      return function () {
        connection.listeners = connection.listeners.filter(function (l) { return l !== listener; });
      };
    }, []);
    return state[0];
  }

  // ------------------------------------------------------------ small pieces

  function when(iso) {
    if (!iso) return "never";
    var date = new Date(iso);
    return isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function Banner(props) {
    var problem = useConnection();
    if (!problem) return null;
    // The bridge's message names what is wrong and the fix.
    return h("div", { className: "alert alert-danger s2p-banner", role: "alert" },
      h("span", null, problem), " ",
      props.onRetry ? h(Bootstrap.Button, { size: "sm", variant: "danger", onClick: props.onRetry }, "Retry") : null);
  }

  function Spinner() {
    return h("div", { className: "s2p-loading" }, "Asking s2p…");
  }

  function PlexLink(props) {
    if (!props.url) return null;
    return h("a", { href: props.url, target: "_blank", rel: "noopener noreferrer", className: "s2p-plex-link" },
      props.children || "Open in Plex");
  }

  function useBusy(toast) {
    var state = React.useState(null);
    function act(name, promise, done) {
      state[1](name);
      return promise.then(
        function (output) { state[1](null); if (done) done(output); return output; },
        function (error) { state[1](null); toast.error(error); }
      );
    }
    return [state[0], act];
  }

  // ------------------------------------------------------------ the scene's Plex tab

  function Explanation(props) {
    var missing = props.missing;
    if (!missing) return null;
    var files = missing.files || [];
    return h("div", { className: "s2p-why" },
      h("h6", null, props.inPlex ? "How s2p matches its files" : "Why Plex has no item for it"),
      files.length === 1 ? null : h("p", null, missing.why),
      files.map(function (file, index) {
        var outcome = file.explanation;
        return h("div", { key: index, className: "s2p-why-file" },
          h("div", null, h("span", { className: "s2p-label" }, "Stash "), h("code", null, file.stash)),
          h("div", null, h("span", { className: "s2p-label" }, "Plex "), h("code", null, file.plex || "(no path rule)"),
            file.library ? h("span", { className: "s2p-muted" }, " in library " + file.library) : null),
          h("div", null, file.why),
          outcome ? h("ul", { className: "s2p-steps" },
            (outcome.steps || []).map(function (step, i) {
              return h("li", { key: i }, h("strong", null, step.step + ": "), step.result);
            }),
            h("li", null, h("strong", null, "decision: "),
              outcome.decision ? "scene " + outcome.decision.scene + " (score " + outcome.decision.score + ", by " +
                outcome.decision.step + ")" : (outcome.reason || "no match"))) : null);
      }));
  }

  function ItemsTable(props) {
    return h("table", { className: "table table-sm s2p-items" },
      h("thead", null, h("tr", null,
        h("th", null, "Library"), h("th", null, "Title"), h("th", null, "ratingKey"),
        h("th", null, "Plex updated it"), h("th", null, ""))),
      h("tbody", null, props.items.map(function (item) {
        return h("tr", { key: item.rating_key },
          h("td", null, item.section || "?"),
          h("td", null, item.title, item.type && item.type !== "movie" ? h("span", { className: "s2p-muted" }, " (" + item.type + ")") : null),
          h("td", null, h("code", null, item.rating_key)),
          h("td", null, when(item.updated_at)),
          h("td", null, h(PlexLink, { url: item.url })));
      })));
  }

  function Freshness(props) {
    var status = props.status;
    var badge = status.changed_since === true ? ["badge-warning", "changed in Stash since"]
      : status.changed_since === false ? ["badge-success", "up to date"] : ["badge-secondary", "unknown"];
    return h("div", { className: "s2p-row" },
      h("span", { className: "s2p-label" }, "Metadata fetched from s2p: "), when(status.fetched_at), " ",
      h("span", { className: "badge " + badge[0], title: status.changed_why }, badge[1]),
      h("div", { className: "s2p-muted" }, status.changed_why));
  }

  function SyncState(props) {
    var sync = props.sync || {};
    var text = !sync.enabled ? "live sync is off in s2p"
      : sync.queued ? "queued for a refresh in Plex (" + sync.queued.reason + (sync.queued.due === "now" ? ", next" : ", due " + when(sync.queued.due)) +
        (sync.queued.attempts ? ", " + sync.queued.attempts + " attempt(s), last error: " + sync.queued.last_error : "") + ")"
      : "not queued";
    return h("div", { className: "s2p-row" }, h("span", { className: "s2p-label" }, "Live sync: "), text);
  }

  function SceneGaps(props) {
    if (!props.gaps || !props.gaps.length) return null;
    return h("div", { className: "s2p-row" },
      h("h6", null, "Gap records"),
      h("ul", { className: "s2p-gap-list" }, props.gaps.map(function (gap) {
        return h("li", { key: gap.id },
          h("span", { className: "badge badge-info" }, gap.label), " ", gap.reason,
          gap.dismissed_at ? h("span", { className: "s2p-muted" }, " (dismissed)") : null);
      })),
      h(Router.Link, { to: ROUTE }, "All gaps"));
  }

  function PlexPanel(props) {
    var scene = props.scene;
    var toast = api.hooks.useToast();
    var state = React.useState({ loading: true, status: null, error: null });
    var why = React.useState(null);
    var busy = useBusy(toast);
    var setState = state[1];

    var load = React.useCallback(function () {
      setState({ loading: true, status: null, error: null });
      runOp({ op: "scene", id: scene.id }).then(
        function (status) { setState({ loading: false, status: status, error: null }); },
        function (error) { setState({ loading: false, status: null, error: error.message }); }
      );
    }, [scene.id]);
    React.useEffect(load, [load]);

    var status = state[0].status;
    var buttons = h("div", { className: "s2p-buttons" },
      h(Bootstrap.Button, {
        variant: "primary", disabled: !!busy[0], className: "s2p-refresh",
        onClick: function () {
          busy[1]("refresh", runOp({ op: "refresh", id: scene.id }), function () {
            toast.success("Plex refreshes this scene's items in a moment");
          });
        },
      }, busy[0] === "refresh" ? "Refreshing…" : "Refresh in Plex"),
      h(Bootstrap.Button, {
        variant: "secondary", disabled: !!busy[0], className: "s2p-scan",
        onClick: function () {
          busy[1]("scan", runOp({ op: "scan", id: scene.id }), function (output) {
            toast.success("Plex is scanning " + ((output && output.folders) || 0) + " folder(s)");
          });
        },
      }, busy[0] === "scan" ? "Asking Plex…" : "Scan folder in Plex"),
      h(Bootstrap.Button, {
        variant: "secondary", disabled: !!busy[0], className: "s2p-why-button",
        onClick: function () {
          busy[1]("why", runOp({ op: "explain", id: scene.id }), function (output) { why[1](output); });
        },
      }, busy[0] === "why" ? "Matching…" : "Why no match?"),
      h(Bootstrap.Button, { variant: "link", onClick: load, disabled: state[0].loading }, "Reload"));

    var body;
    if (state[0].loading) body = h(Spinner);
    else if (state[0].error) body = OUT_OF_REACH.test(state[0].error) ? null
      : h("div", { className: "alert alert-warning" }, state[0].error);
    else if (status) {
      var items = status.items || [];
      body = h("div", null,
        status.plex && status.plex.error ? h("div", { className: "alert alert-warning" }, status.plex.error) : null,
        status.plex && !status.plex.configured ? h("div", { className: "alert alert-info" },
          "s2p has no [plex] url and token: it cannot look in Plex.") : null,
        items.length ? h("div", null,
          h("h5", null, "In Plex: " + items.length + " item" + (items.length === 1 ? "" : "s")),
          h(ItemsTable, { items: items }))
          : h("h5", null, "Plex has no item for this scene"),
        h(Freshness, { status: status }),
        h(SyncState, { sync: status.sync }),
        h(SceneGaps, { gaps: status.gaps }),
        h(Explanation, { missing: why[0] || status.missing, inPlex: items.length > 0 }));
    }
    return h("div", { className: "s2p-panel" },
      h(Banner, { onRetry: load }),
      buttons,
      body);
  }

  // ------------------------------------------------------------ the gap report page

  function GapRow(props) {
    var gap = props.gap;
    var machine = props.machine;
    var plexUrl = gap.rating_key && machine
      ? "https://app.plex.tv/desktop/#!/server/" + encodeURIComponent(machine) +
        "/details?key=/library/metadata/" + encodeURIComponent(gap.rating_key) : null;
    return h("tr", { className: "s2p-gap" },
      h("td", null,
        h("div", { className: "s2p-gap-title" }, gap.title || gap.plex_path || gap.stash_path || "#" + gap.id),
        h("div", { className: "s2p-muted" }, gap.reason),
        gap.plex_path ? h("div", null, h("span", { className: "s2p-label" }, "Plex "), h("code", null, gap.plex_path)) : null,
        gap.stash_path ? h("div", null, h("span", { className: "s2p-label" }, "Stash "), h("code", null, gap.stash_path)) : null),
      h("td", null, gap.section || ""),
      h("td", { className: "s2p-links" },
        gap.scene_id ? h(Router.Link, { to: "/scenes/" + gap.scene_id }, "Scene " + gap.scene_id) : null,
        gap.scene_id && plexUrl ? " · " : null,
        h(PlexLink, { url: plexUrl }, "Plex")),
      h("td", { className: "s2p-actions" },
        gap.kind === "plex_only" && gap.stash_path ? h(Bootstrap.Button, {
          size: "sm", variant: "secondary", disabled: props.busy, className: "s2p-scan-stash",
          onClick: function () { props.onScanInStash(gap); },
        }, "Scan in Stash") : null,
        " ",
        h(Bootstrap.Button, {
          size: "sm", variant: "secondary", disabled: props.busy, className: "s2p-dismiss",
          onClick: function () { props.onDismiss(gap, !gap.dismissed_at); },
        }, gap.dismissed_at ? "Restore" : "Dismiss")));
  }

  function GapsPage() {
    var toast = api.hooks.useToast();
    var kind = React.useState(KINDS[0][0]);
    var state = React.useState("open");
    var offset = React.useState(0);
    var result = React.useState({ loading: true, report: null, error: null });
    var busy = useBusy(toast);
    var setResult = result[1];

    var load = React.useCallback(function () {
      setResult(function (old) { return { loading: true, report: old.report, error: null }; });
      runOp({ op: "gaps", kind: kind[0], state: state[0], offset: offset[0], limit: PAGE_SIZE }).then(
        function (report) { setResult({ loading: false, report: report, error: null }); },
        function (error) { setResult({ loading: false, report: null, error: error.message }); }
      );
    }, [kind[0], state[0], offset[0]]);
    React.useEffect(load, [load]);

    var report = result[0].report;
    var counts = (report && report.counts) || {};
    var machine = report && report.plex ? report.plex.machine_identifier : null;

    function dismiss(gap, dismissing) {
      busy[1]("gap", runOp({ op: dismissing ? "dismiss" : "restore", id: String(gap.id) }), function () {
        toast.success(dismissing ? "Dismissed in s2p" : "Restored in s2p");
        load();
      });
    }
    function scan(gap) {
      busy[1]("scan", scanInStash(gap.stash_path), function () {
        toast.success("Stash is scanning " + gap.stash_path);
      });
    }

    var tabs = h("ul", { className: "nav nav-tabs s2p-kinds" }, KINDS.map(function (entry) {
      return h("li", { className: "nav-item", key: entry[0] },
        h("a", {
          href: "#", className: "nav-link" + (entry[0] === kind[0] ? " active" : ""),
          onClick: function (event) { event.preventDefault(); kind[1](entry[0]); offset[1](0); },
        }, entry[1], " ", h("span", { className: "badge badge-pill badge-secondary" }, counts[entry[0]] || 0)));
    }));

    var run = report && report.last_run;
    var header = h("div", { className: "s2p-page-header" },
      h("h3", null, "Plex and Stash"),
      h("div", { className: "s2p-muted" },
        run ? "Last comparison: " + run.status + ", " + when(run.finished_at || run.started_at) +
          (run.error ? ": " + run.error : "") : "No comparison yet",
        report && report.run_in_progress ? " (one is running now)" : ""),
      h("div", { className: "s2p-buttons" },
        h(Bootstrap.Button, {
          variant: "primary", disabled: !!busy[0], className: "s2p-compare",
          onClick: function () {
            busy[1]("compare", runOp({ op: "compare" }), function () {
              toast.success("s2p is comparing Plex and Stash; reload in a minute");
            });
          },
        }, "Compare now"),
        h(Bootstrap.Button, {
          variant: "secondary", className: "s2p-state",
          onClick: function () { state[1](state[0] === "open" ? "dismissed" : "open"); offset[1](0); },
        }, state[0] === "open" ? "Show dismissed" : "Show open"),
        h(Bootstrap.Button, { variant: "link", onClick: load }, "Reload")));

    var body;
    if (result[0].loading && !report) body = h(Spinner);
    else if (result[0].error) body = OUT_OF_REACH.test(result[0].error) ? null
      : h("div", { className: "alert alert-warning" }, result[0].error);
    else if (report) {
      var gaps = report.gaps || [];
      var last = Math.min(report.offset + gaps.length, report.total);
      body = h("div", null,
        h("p", { className: "s2p-muted" }, gaps.length ? (report.offset + 1) + "–" + last + " of " + report.total + " " + state[0]
          : "No " + state[0] + " gap of this kind."),
        gaps.length ? h("table", { className: "table table-sm s2p-gaps" },
          h("thead", null, h("tr", null, h("th", null, "What"), h("th", null, "Library"), h("th", null, "Links"), h("th", null, ""))),
          h("tbody", null, gaps.map(function (gap) {
            return h(GapRow, { key: gap.id, gap: gap, machine: machine, busy: !!busy[0], onDismiss: dismiss, onScanInStash: scan });
          }))) : null,
        h("div", { className: "s2p-paging" },
          h(Bootstrap.Button, {
            size: "sm", variant: "secondary", disabled: report.offset === 0,
            onClick: function () { offset[1](Math.max(0, report.offset - PAGE_SIZE)); },
          }, "Previous"), " ",
          h(Bootstrap.Button, {
            size: "sm", variant: "secondary", disabled: last >= report.total,
            onClick: function () { offset[1](report.offset + PAGE_SIZE); },
          }, "Next")));
    }
    return h("div", { className: "s2p-page container-fluid" }, h(Banner, { onRetry: load }), header, tabs, body);
  }

  // ------------------------------------------------------------ the navbar button

  var openCount = { value: null, at: 0, pending: null };
  function countOpen() {
    if (openCount.pending) return openCount.pending;
    openCount.pending = runOp({ op: "gaps", limit: 1 }).then(
      function (report) {
        var counts = (report && report.counts) || {};
        openCount.value = Object.keys(counts).reduce(function (sum, k) { return sum + counts[k]; }, 0);
        openCount.at = Date.now();
        openCount.pending = null;
        return openCount.value;
      },
      function () { openCount.pending = null; return null; }
    );
    return openCount.pending;
  }

  function NavButton() {
    var count = React.useState(openCount.value);
    var problem = useConnection();
    React.useEffect(function () {
      var live = true;
      function update() { countOpen().then(function (value) { if (live) count[1](value); }); }
      if (!openCount.at || Date.now() - openCount.at > COUNT_EVERY_MS) update();
      var timer = setInterval(update, COUNT_EVERY_MS);
      return function () { live = false; clearInterval(timer); };
    }, []);
    var badge = problem ? h("span", { className: "badge badge-danger s2p-count" }, "!")
      : count[0] ? h("span", { className: "badge badge-warning s2p-count" }, count[0]) : null;
    return h(Router.NavLink, { className: "nav-utility s2p-nav", exact: true, to: ROUTE },
      h(Bootstrap.Button, {
        className: "minimal d-flex align-items-center h-100",
        title: problem ? problem : "Plex and Stash: " + (count[0] || 0) + " open gap(s)",
      }, "Plex", badge));
  }

  // ------------------------------------------------------------ into Stash's page

  api.register.route(ROUTE, GapsPage);

  api.patch.before("MainNavBar.UtilityItems", function (props) {
    return [Object.assign({}, props, { children: h(React.Fragment, null, props.children, h(NavButton, { key: "s2p" })) })];
  });

  api.patch.before("ScenePage.Tabs", function (props) {
    return [Object.assign({}, props, {
      children: h(React.Fragment, null, props.children,
        h(Bootstrap.Nav.Item, { key: TAB_KEY }, h(Bootstrap.Nav.Link, { eventKey: TAB_KEY }, "Plex"))),
    })];
  });

  api.patch.before("ScenePage.TabContent", function (props) {
    return [Object.assign({}, props, {
      children: h(React.Fragment, null, props.children,
        h(Bootstrap.Tab.Pane, { key: TAB_KEY, eventKey: TAB_KEY, mountOnEnter: true },
          props.scene ? h(PlexPanel, { scene: props.scene }) : null)),
    })];
  });
})();
