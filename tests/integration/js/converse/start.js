// The one setting the test chooses: the WebSocket URL of the instance
// under test, from the page's query (?ws=...).
const ws = new URLSearchParams(window.location.search).get("ws");
converse.initialize({ websocket_url: ws });
