/* Stash's page as far as the plugin sees it (a navbar, a scene page with its
 * tabs, the plugin routes), then what a person does: open the Plex tab and
 * press its buttons, or press the gap page's. What happened is written into
 * #s2p-results as JSON for the test to read. */
(function () {
  "use strict";
  var test = window.S2P_TEST;
  var React = window.React;
  var h = React.createElement;
  var B = window.ReactBootstrap;
  var Router = window.ReactRouterDOM;

  function ScenePage(props) {
    var tabs = test.patched("ScenePage.Tabs", {
      scene: props.scene,
      children: [
        h(B.Nav.Item, { key: "details" }, h(B.Nav.Link, { eventKey: "scene-details-panel" }, "Details")),
        h(B.Nav.Item, { key: "files" }, h(B.Nav.Link, { eventKey: "scene-file-info-panel" }, "File Info")),
      ],
    });
    var content = test.patched("ScenePage.TabContent", {
      scene: props.scene,
      children: [
        h(B.Tab.Pane, { key: "details", eventKey: "scene-details-panel" }, "The scene's details."),
        h(B.Tab.Pane, { key: "files", eventKey: "scene-file-info-panel" }, "The scene's files."),
      ],
    });
    return h("div", { className: "scene-page row" },
      h("div", { className: "scene-tabs col-md-6" },
        h("h3", { className: "scene-header" }, props.scene.title),
        h(B.Tab.Container, { defaultActiveKey: "scene-details-panel" },
          h(B.Nav, { variant: "tabs", className: "mr-auto" }, tabs.children),
          h(B.Tab.Content, null, content.children))),
      h("div", { className: "scene-player-container col-md-6" }, h("div", { className: "player-stand-in" }, "player")));
  }

  function Navbar() {
    var items = test.patched("MainNavBar.UtilityItems", { children: [h("span", { key: "stash", className: "navbar-stand-in" }, "Settings")] });
    return h("nav", { className: "navbar navbar-dark bg-dark top-nav" },
      h("span", { className: "navbar-brand" }, "Stash"),
      h("div", { className: "navbar-buttons d-flex" }, items.children));
  }

  function App() {
    var scenes = { "1": "Office Affair", "9": "Fresh" };
    return h(Router.MemoryRouter, { initialEntries: [test.view === "gaps" ? "/plugins/s2p" : "/scenes/" + (test.view === "missing" ? "9" : "1")] },
      h(Navbar),
      h("div", { className: "main container-fluid" },
        h(Router.Switch, null,
          h(Router.Route, { path: "/plugins/s2p", component: test.routes["/plugins/s2p"] }),
          h(Router.Route, {
            path: "/scenes/:id",
            render: function (route) {
              var id = route.match.params.id;
              return h(ScenePage, { scene: { id: id, title: scenes[id] || "Scene " + id } });
            },
          }))));
  }

  // ------------------------------------------------------------ what a person does

  function waitFor(what, check, tries) {
    tries = tries === undefined ? 200 : tries;
    return new Promise(function (resolve, reject) {
      (function poll(left) {
        var value = check();
        if (value) return resolve(value);
        if (left <= 0) return reject(new Error("timed out waiting for " + what));
        setTimeout(function () { poll(left - 1); }, 25);
      })(tries);
    });
  }

  function text() { return document.getElementById("root").textContent; }
  function click(element) { element.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true })); }
  function button(selector) { return document.querySelector(selector); }
  function ops() {
    return test.calls.filter(function (c) { return c.query.indexOf("runPluginOperation") >= 0; })
      .map(function (c) { return c.variables; });
  }
  function called(op) { return function () { return ops().some(function (v) { return v.args.op === op; }); }; }
  function linkNamed(name) {
    return Array.prototype.find.call(document.querySelectorAll("a.nav-link"), function (a) { return a.textContent === name; });
  }

  var scenarios = {
    scene: function (results) {
      return waitFor("the Plex tab", function () { return linkNamed("Plex"); }).then(function (tab) {
        results.tabs = Array.prototype.map.call(document.querySelectorAll(".scene-tabs a.nav-link"), function (a) { return a.textContent; });
        results.callsBeforeOpening = ops().filter(function (v) { return v.args.op === "scene"; }).length;
        click(tab);
        return waitFor("the scene's status", function () { return document.querySelector(".s2p-plex-link"); });
      }).then(function (link) {
        results.openInPlex = link.getAttribute("href");
        results.items = Array.prototype.map.call(document.querySelectorAll(".s2p-items tbody tr"), function (tr) { return tr.textContent; });
        results.text = text();
        click(button(".s2p-refresh"));
        return waitFor("refresh", called("refresh"));
      }).then(function () {
        return waitFor("the buttons back", function () { return !button(".s2p-scan").disabled; });
      }).then(function () {
        click(button(".s2p-scan"));
        return waitFor("scan", called("scan"));
      }).then(function () {
        return waitFor("the buttons back", function () { return !button(".s2p-why-button").disabled; });
      }).then(function () {
        click(button(".s2p-why-button"));
        return waitFor("the explanation", function () { return document.querySelector(".s2p-why"); });
      });
    },
    missing: function (results) {
      return waitFor("the Plex tab", function () { return linkNamed("Plex"); }).then(function (tab) {
        click(tab);
        return waitFor("the explanation", function () { return document.querySelector(".s2p-why"); });
      }).then(function () { results.text = text(); });
    },
    down: function (results) {
      return waitFor("the Plex tab", function () { return linkNamed("Plex"); }).then(function (tab) {
        click(tab);
        return waitFor("the banner", function () { return document.querySelector(".s2p-banner"); });
      }).then(function (banner) { results.banner = banner.textContent; results.text = text(); });
    },
    gaps: function (results) {
      return waitFor("the gap rows", function () { return document.querySelector(".s2p-gap"); }).then(function () {
        results.kinds = Array.prototype.map.call(document.querySelectorAll(".s2p-kinds a"), function (a) { return a.textContent; });
        results.rows = document.querySelectorAll(".s2p-gap").length;
        results.sceneLinks = Array.prototype.map.call(document.querySelectorAll(".s2p-links a[href^='/scenes/']"), function (a) { return a.getAttribute("href"); });
        results.plexLinks = Array.prototype.map.call(document.querySelectorAll(".s2p-links a.s2p-plex-link"), function (a) { return a.getAttribute("href"); });
        results.text = text();
        click(button(".s2p-dismiss"));
        return waitFor("dismiss", called("dismiss"));
      }).then(function () {
        return waitFor("the buttons back", function () { return !button(".s2p-compare").disabled; });
      }).then(function () {
        click(button(".s2p-compare"));
        return waitFor("compare", called("compare"));
      }).then(function () {
        return waitFor("the buttons back", function () { return button(".s2p-scan-stash") && !button(".s2p-scan-stash").disabled; });
      }).then(function () {
        click(button(".s2p-scan-stash"));
        return waitFor("Stash's scan", function () {
          return test.calls.some(function (c) { return c.query.indexOf("metadataScan") >= 0; });
        });
      });
    },
  };

  function finish(results, error) {
    results.error = error ? String(error.message || error) : null;
    results.calls = test.calls;
    results.toasts = test.toasts;
    results.navbar = (document.querySelector(".s2p-nav") || {}).textContent || null;
    var out = document.getElementById("s2p-results");
    out.textContent = JSON.stringify(results);
    out.setAttribute("data-done", "1");
  }

  window.ReactDOM.render(h(App), document.getElementById("root"));
  var results = {};
  scenarios[test.view](results).then(function () {
    // Let the last answer render (and its toast show) before the page is read.
    setTimeout(function () { finish(results, null); }, 200);
  }, function (error) { finish(results, error); });
})();
