// facemon dashboard login: POST /api/login (JSON), then back to the page
// that sent us here (same origin only).
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  function next() {
    var n = new URLSearchParams(location.search).get('next') || '/';
    // Only a path on this origin: no "//host", "/\\host", "scheme:", and no
    // control characters or spaces (browsers drop tabs: "/\t/host" is "//host").
    // The edge checks it too (login.SafeNext) and answers the target.
    return /^\/(?![\/\\])[\x21-\x7e]*$/.test(n) && n.indexOf('\\') < 0 ? n : '/';
  }
  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var st = $('login-status'), btn = $('login');
    btn.disabled = true;
    st.dataset.state = 'pending';
    st.textContent = 'checking…';
    fetch('/api/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ password: $('password').value, next: next() })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (r.ok) {
          st.dataset.state = 'ok'; st.textContent = 'logged in';
          var to = typeof j.next === 'string' && j.next === next() ? j.next : '/';
          location.replace(to); return;
        }
        st.dataset.state = r.status === 429 ? 'limited' : 'error';
        st.textContent = '✗ ' + (j.error || ('HTTP ' + r.status));
        $('password').select();
      });
    }).catch(function (err) { st.dataset.state = 'error'; st.textContent = '✗ ' + err; })
      .then(function () { btn.disabled = false; });
  });
})();
