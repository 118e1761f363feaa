// A script the help pages load; it marks the document so tests can see scripts ran.
document.documentElement.setAttribute("data-app", "loaded");
