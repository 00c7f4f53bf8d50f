// Runs after RequireJS and before the Jupyter widgets HTML manager (see nb_ipywidgets_js in _config.yml).
(function () {
  // The manager's bundled modules ("@jupyter-widgets/base", "@jupyter-widgets/html-manager/dist/…") load their
  // icon fonts from the folder RequireJS gives their names, by default the page's own; point both names at the
  // folder this book serves the fonts from.
  var fonts = (document.documentElement.dataset.content_root || "") + "_static/html-manager";
  require.config({ paths: { "@jupyter-widgets": fonts, "@jupyter-widgets/html-manager/dist": fonts } });

  // The manager typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book loads MathJax 3, which has
  // no Hub. Give it one that calls MathJax 3's typesetPromise, before MathJax starts and after it is ready.
  var hub = {
    Queue: function (job) {
      var element = job && job[2];
      if (element && window.MathJax && window.MathJax.typesetPromise) window.MathJax.typesetPromise([element]);
    }
  };
  window.MathJax = window.MathJax || {};
  window.MathJax.Hub = hub;
  var startup = window.MathJax.startup || {};
  var configuredReady = startup.ready;
  startup.ready = function () {
    if (configuredReady) configuredReady(); else window.MathJax.startup.defaultReady();
    window.MathJax.Hub = hub;
  };
  window.MathJax.startup = startup;
})();
