/** The medical alerts a dentist must see before treatment; critical ones first and loudest. */
import type { MedicalAlert } from '../../../shared/schemas/patients.js';

export function MedicalAlertsBanner({ alerts }: { readonly alerts: readonly MedicalAlert[] }) {
  if (alerts.length === 0) {
    return (
      <section className="alerts alerts-none" aria-labelledby="alerts-heading">
        <h2 id="alerts-heading">Medical alerts</h2>
        <p>No medical alerts recorded.</p>
      </section>
    );
  }
  const critical = alerts.filter((alert) => alert.severity === 'critical');
  const warnings = alerts.filter((alert) => alert.severity !== 'critical');
  return (
    <section
      className={`alerts ${critical.length > 0 ? 'alerts-critical' : 'alerts-warning'}`}
      aria-labelledby="alerts-heading"
      data-testid="medical-alerts"
    >
      <h2 id="alerts-heading">
        Medical alerts
        {critical.length > 0 && <span className="alerts-count"> — {critical.length} critical</span>}
      </h2>
      <ul className="alert-list">
        {[...critical, ...warnings].map((alert, index) => (
          <li key={`${alert.kind}-${index}`} className={`alert alert-${alert.severity}`}>
            <span className="alert-severity">{alert.severity === 'critical' ? 'Critical' : 'Warning'}</span>
            <span className="alert-label">{alert.label}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
