/**
 * The local inactivity timer: the session locks in main after `inactivityTimeoutMs` without a
 * call, and this locks the screen after the same time without keyboard, pointer or wheel input,
 * so a shared front-desk PC does not stay open on a patient's record. It reads local input only
 * and never asks the API (every auth.session call is audited).
 */
import { useEffect, useRef } from 'react';

const ACTIVITY_EVENTS = ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart'] as const;

/** Calls onIdle once after timeoutMs without input; a null timeout turns the timer off. */
export function useInactivityTimer(timeoutMs: number | null, onIdle: () => void): void {
  const onIdleRef = useRef(onIdle);
  useEffect(() => {
    onIdleRef.current = onIdle;
  }, [onIdle]);

  useEffect(() => {
    if (timeoutMs === null) return undefined;
    let lastActivity = Date.now();
    let timer: number | undefined;
    const check = () => {
      const idle = Date.now() - lastActivity;
      if (idle >= timeoutMs) onIdleRef.current();
      // Rescheduling on expiry rather than on every key press keeps typing cheap.
      else timer = window.setTimeout(check, timeoutMs - idle);
    };
    const noteActivity = () => {
      lastActivity = Date.now();
    };
    for (const type of ACTIVITY_EVENTS) {
      window.addEventListener(type, noteActivity, { capture: true, passive: true });
    }
    timer = window.setTimeout(check, timeoutMs);
    return () => {
      window.clearTimeout(timer);
      for (const type of ACTIVITY_EVENTS) window.removeEventListener(type, noteActivity, { capture: true });
    };
  }, [timeoutMs]);
}
