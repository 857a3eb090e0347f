/** The views of the signed-in app; the app keeps the current one in state (no URL routing). */

export type View =
  | { readonly name: 'patients' }
  | { readonly name: 'patient'; readonly patientId: string; readonly notice?: string }
  | { readonly name: 'newPatient' }
  | { readonly name: 'editPatient'; readonly patientId: string }
  | { readonly name: 'users' }
  | { readonly name: 'audit' }
  | { readonly name: 'sync' }
  | { readonly name: 'conflicts' };

export type Navigate = (view: View) => void;
