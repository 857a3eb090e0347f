/** Moves focus to a view's heading when it opens, so screen readers announce the new view. */
import { type RefObject, useEffect, useRef } from 'react';

export function useHeadingFocus<T extends HTMLElement = HTMLHeadingElement>(): RefObject<T | null> {
  const ref = useRef<T>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return ref;
}
