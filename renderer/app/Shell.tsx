/**
 * The signed-in app: header with role-aware navigation, and the current view. Navigation is
 * computed from the role's permissions (shared/permissions.ts): a role is not offered what it
 * may not do; main refuses it anyway.
 */
import type { Permission } from '../../shared/permissions.js';
import { AuditScreen } from '../screens/admin/AuditScreen.js';
import { UsersScreen } from '../screens/admin/UsersScreen.js';
import { PatientFormScreen } from '../screens/patients/PatientFormScreen.js';
import { PatientProfileScreen } from '../screens/patients/PatientProfileScreen.js';
import { PatientSearchScreen } from '../screens/patients/PatientSearchScreen.js';
import { ConflictsScreen } from '../screens/sync/ConflictsScreen.js';
import { SyncScreen } from '../screens/sync/SyncScreen.js';
import { useSession } from './contexts.js';
import type { Navigate, View } from './views.js';

interface NavItem {
  readonly label: string;
  readonly view: View;
  readonly permission: Permission;
  /** The views that belong to this item (highlighted as current). */
  readonly section: ReadonlyArray<View['name']>;
}

const NAV_ITEMS: readonly NavItem[] = [
  {
    label: 'Patients',
    view: { name: 'patients' },
    permission: 'patients.read',
    section: ['patients', 'patient', 'newPatient', 'editPatient'],
  },
  { label: 'Users', view: { name: 'users' }, permission: 'users.read', section: ['users'] },
  { label: 'Audit log', view: { name: 'audit' }, permission: 'audit.read', section: ['audit'] },
  // sync.status is open to every signed-in role; what each may do there is decided on the screen.
  { label: 'Sync', view: { name: 'sync' }, permission: 'session.self', section: ['sync'] },
  // conflicts.list needs patients.read (duplicates are patients).
  { label: 'Conflicts', view: { name: 'conflicts' }, permission: 'patients.read', section: ['conflicts'] },
];

/**
 * Where the user is in the app. The app (not the shell) keeps it, because the shell is unmounted
 * while the screen is locked and comes back at the same place after the unlock.
 */
export interface ShellPlace {
  readonly view: View;
  /** The search as typed; it stays when the user comes back from a record. */
  readonly searchQuery: string;
}

/** Where a new session starts. */
export const START_PLACE: ShellPlace = { view: { name: 'patients' }, searchQuery: '' };

export interface ShellProps {
  readonly clinicName: string | null;
  readonly place: ShellPlace;
  readonly onPlace: (update: (place: ShellPlace) => ShellPlace) => void;
  readonly onLock: () => void;
  readonly onSignOut: () => void;
}

export function Shell({ clinicName, place, onPlace, onLock, onSignOut }: ShellProps) {
  const { user, can } = useSession();
  const { view, searchQuery } = place;
  const navItems = NAV_ITEMS.filter((item) => can(item.permission));
  const navigate: Navigate = (next) => onPlace((current) => ({ ...current, view: next }));
  const setSearchQuery = (query: string) => onPlace((current) => ({ ...current, searchQuery: query }));

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <div className="brand">
          <span className="brand-name">Chairside</span>
          {clinicName !== null && <span className="brand-clinic">{clinicName}</span>}
        </div>
        <nav aria-label="Main">
          <ul className="nav-list">
            {navItems.map((item) => (
              <li key={item.label}>
                <button
                  type="button"
                  className="nav-link"
                  aria-current={item.section.includes(view.name) ? 'page' : undefined}
                  onClick={() => navigate(item.view)}
                >
                  {item.label}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <div className="user-menu">
          <span className="user-name">
            {user.displayName} <span className="user-role">{user.role}</span>
          </span>
          <button type="button" className="button subtle" onClick={onLock}>
            Lock
          </button>
          <button type="button" className="button subtle" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" className="app-main" tabIndex={-1}>
        <CurrentView view={view} navigate={navigate} searchQuery={searchQuery} onSearchQuery={setSearchQuery} />
      </main>
    </div>
  );
}

function CurrentView({
  view,
  navigate,
  searchQuery,
  onSearchQuery,
}: {
  readonly view: View;
  readonly navigate: Navigate;
  readonly searchQuery: string;
  readonly onSearchQuery: (query: string) => void;
}) {
  switch (view.name) {
    case 'patients':
      return <PatientSearchScreen navigate={navigate} query={searchQuery} onQuery={onSearchQuery} />;
    case 'patient':
      return (
        <PatientProfileScreen
          key={view.patientId}
          patientId={view.patientId}
          navigate={navigate}
          notice={view.notice}
        />
      );
    case 'newPatient':
      return <PatientFormScreen navigate={navigate} />;
    case 'editPatient':
      return <PatientFormScreen key={view.patientId} navigate={navigate} patientId={view.patientId} />;
    case 'users':
      return <UsersScreen />;
    case 'audit':
      return <AuditScreen />;
    case 'sync':
      return <SyncScreen navigate={navigate} />;
    case 'conflicts':
      return <ConflictsScreen navigate={navigate} />;
  }
}
