import { useEffect, useState } from 'react';
import { parseRoute, type Route } from './lib/route';
import { JoinScreen } from './screens/JoinScreen';
import { RoomScreen } from './screens/RoomScreen';
import { StartScreen } from './screens/StartScreen';

export function App() {
  const [route, setRoute] = useState<Route>(() => parseRoute(location.pathname, location.search));
  useEffect(() => {
    const onPop = () => setRoute(parseRoute(location.pathname, location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  switch (route.page) {
    case 'start':
      return <StartScreen />;
    case 'join':
      return <JoinScreen key={route.roomId} roomId={route.roomId} invite={route.invite} />;
    case 'room':
      return <RoomScreen key={route.roomId} roomId={route.roomId} />;
  }
}
