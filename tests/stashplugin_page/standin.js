/* A stand-in for Stash's PluginApi, as far as the s2p plugin uses it: React,
 * React-Bootstrap and React Router from npm (the versions Stash's UI is built
 * on), patch.before, register.route, hooks.useToast; and window.fetch
 * answering Stash's /graphql from the fixtures the test wrote. Every GraphQL
 * call is recorded in S2P_TEST.calls. */
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var test = {
    view: params.get("view") || "scene",
    calls: [],
    toasts: [],
    routes: {},
    before: {},
    results: {},
  };
  window.S2P_TEST = test;

  function noop() {}

  function toast(variant, message) {
    test.toasts.push({ variant: variant, message: message });
    var box = document.getElementById("toasts");
    if (!box) return;
    var item = document.createElement("div");
    item.className = "toast-item alert alert-" + variant;
    item.textContent = message;
    box.appendChild(item);
  }

  window.PluginApi = {
    React: window.React,
    ReactDOM: window.ReactDOM,
    libraries: { Bootstrap: window.ReactBootstrap, ReactRouterDOM: window.ReactRouterDOM },
    components: {},
    utils: {},
    register: {
      route: function (path, component) { test.routes[path] = component; },
      component: noop,
    },
    patch: {
      before: function (name, fn) { (test.before[name] = test.before[name] || []).push(fn); },
      instead: noop,
      after: noop,
    },
    hooks: {
      useToast: function () {
        return {
          success: function (message) { toast("success", String(message)); },
          error: function (error) { toast("danger", String((error && error.message) || error)); },
        };
      },
    },
  };

  // Stash's PatchContainerComponent: before-patches change the props, then the children render.
  test.patched = function (name, props) {
    var args = [props];
    (test.before[name] || []).forEach(function (fn) { args = fn.apply(null, args); });
    return args[0];
  };

  function answer(call) {
    var fixtures = window.S2P_FIXTURES;
    if (call.query.indexOf("metadataScan") >= 0) return { data: { metadataScan: "41" } };
    if (call.query.indexOf("runPluginOperation") < 0) return { errors: [{ message: "not in the stand-in" }] };
    if (test.view === "down") return { errors: [{ message: fixtures.down }] };
    var args = call.variables.args || {};
    var found = fixtures.answers[args.op + ":" + args.id] || fixtures.answers[args.op];
    return found === undefined ? { errors: [{ message: "no fixture for " + args.op }] } : { data: { runPluginOperation: found } };
  }

  window.fetch = function (url, options) {
    var body = JSON.parse(options.body);
    var call = { url: String(url), method: options.method, query: body.query, variables: body.variables };
    test.calls.push(call);
    var reply = answer(call);
    return Promise.resolve({ status: 200, json: function () { return Promise.resolve(reply); } });
  };
})();
