(function(){
  function key(cell){
    var v = cell.getAttribute('data-value');
    if (v === null || v === '') return {empty: true};
    var n = parseFloat(v);
    return isNaN(n) ? {text: v} : {num: n};
  }
  function compare(a, b){
    if (a.empty || b.empty) return 0;
    if (a.num !== undefined && b.num !== undefined) return a.num - b.num;
    return String(a.text !== undefined ? a.text : a.num).localeCompare(String(b.text !== undefined ? b.text : b.num),
                                                                       undefined, {numeric: true});
  }
  function sortBy(table, th, col){
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var current = th.getAttribute('aria-sort');
    var first = th.getAttribute('data-first') || 'ascending';
    var order = current ? (current === 'ascending' ? 'descending' : 'ascending') : first;
    table.querySelectorAll('thead th').forEach(function(h){ h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', order);
    var sign = order === 'ascending' ? 1 : -1;
    rows.map(function(r, i){ return {row: r, key: key(r.cells[col]), i: i}; })
      .sort(function(a, b){
        if (a.key.empty !== b.key.empty) return a.key.empty ? 1 : -1;   /* missing values last */
        return sign * compare(a.key, b.key) || a.i - b.i;                 /* stable */
      })
      .forEach(function(x){ body.appendChild(x.row); });
  }
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('thead th').forEach(function(th, col){
      th.tabIndex = 0;
      th.addEventListener('click', function(){ sortBy(table, th, col); });
      th.addEventListener('keydown', function(e){
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, th, col); }
      });
    });
  });
  function openTarget(){
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === 'DETAILS') el.open = true;
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
})();
