// The app's three addresses. No router library: the service's SPA fallback serves index.html for
// each, and we read location once per navigation.
//   /                          start: create a room
//   /join/<room>?invite=<code> an invite link: enter a name and join
//   /room/<room>               a seat (needs the grant saved for that room)

export type Route =
  | { page: 'start' }
  | { page: 'join'; roomId: string; invite: string }
  | { page: 'room'; roomId: string };

export function parseRoute(pathname: string, search: string): Route {
  const join = pathname.match(/^\/join\/([^/]+)\/?$/);
  if (join) {
    return { page: 'join', roomId: decodeURIComponent(join[1]), invite: new URLSearchParams(search).get('invite') ?? '' };
  }
  const room = pathname.match(/^\/room\/([^/]+)\/?$/);
  if (room) return { page: 'room', roomId: decodeURIComponent(room[1]) };
  return { page: 'start' };
}

export function roomPath(roomId: string): string {
  return `/room/${encodeURIComponent(roomId)}`;
}

export function navigate(path: string): void {
  window.history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}
