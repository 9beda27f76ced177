"""Round-4 note styles written by an author who never saw the de-identifier's rules; SYNTHETIC, for held-out
measurement only."""

from __future__ import annotations

ROUND_4_STYLES: dict[str, list[str]] = {
    "dialysis_unit_note": [
        "HAEMODIALYSIS UNIT - Chair 7, Tues/Thurs/Sat slot\nPt: {name_caps_lf}   Unit no: {mrn}\n"
        "Pre: wt 71.4kg (dry wt 69.5), {vital}. Access: L brachiocephalic AVF, good thrill.\n"
        "Bloods: {lab}. {lab2}.\nUF goal 2L, ran 4h uneventful. {drug} {dose} given post dialysis.\n"
        "{nurse_first} (dialysis RN) / checked by {name_plain_2}",
        "Renal SpR review on unit {date}\n{name} cramping last 30 min of run again. Interdialytic gains ++, "
        "admits fluid restriction 'hard in this heat'.\nPlan: reassess dry wt, renal dietitian referral.\n"
        "Wife {relative} asked to bring fluid diary next session. D/w Dr {doctor} (cons nephrologist).",
        "Transport/logistics - satellite unit\n{name_lf} | DOB {date} | Hosp no {mrn}\n"
        "Holiday dialysis requested at {city} unit {date2}, contact {phone}, fax {fax}.\n"
        "Hep B/C/HIV screen sent. Letter signed {doctor_full} FRACP.\ncc: {relative} (daughter, NOK)",
    ],
    "oncology_mdt_minutes": [
        "UPPER GI MDT - {date}\nChair: {doctor_full}   Coordinator: {nurse_first}\n"
        "Present: Drs {doctor}, Patel, O'Neill; CNS {name_plain_2}\n"
        "Pt: {name_caps} ({age}) MRN {mrn}\nCT CAP: 3.2cm GOJ tumour, no distant mets. {lab}.\n"
        "Outcome: neoadjuvant FLOT then restage. Surgeon to see in clinic.",
        "Breast MDT outcome\nPatient | {name_lf}\nHosp no | {mrn}\nDiscussed | {date}\n"
        "Histology | G2 IDC, ER 8/8, HER2 neg\nRecommendation | WLE + SLNB, then adjuvant {drug}\n"
        "Lead clinician | {doctor_full}\nKey worker | {nurse_first} (breast CNS), tel {phone}",
        "Lung MDM minutes cont.\n4. {name} - performance status 2, lives alone; son {relative} keen for "
        "treatment. PET avid R hilar mass, EBUS confirmed NSCLC. Not fit for resection per {doctor}.\n"
        "ACTION: refer SABR (Dr {doctor_full}); palliative care input. Minutes taken by {name_plain_2}.",
    ],
    "paediatric_well_child_check": [
        "WELL CHILD CHECK - 18 months\nChild: {name}   NHI {mrn}\nAccompanied by mum {relative} and "
        "dad.\nWt 11.2kg (50th), Ht 81cm (50-75th). {vital}.\nDev: walking, 10+ words, points to show. "
        "Immunisations up to date per Blue Book.\nNo concerns raised. Next check 2yr. - {nurse_first} (CFHN)",
        "Health visitor contact {date}\n{name_lf} (6-8wk review)\nFeeding: breastfed, good latch. "
        "Mum ({relative}) reports low mood, EPDS 14.\nBaby: {vital}, gaining wt.\nPlan: GP appt with "
        "Dr {doctor} for mum re EPDS; HV {name_plain_2} to revisit 1/52. Address: {street}, {city} {zip}",
        "Paeds clinic - growth follow up\n{name_caps_lf}, age 4y\nSeen with foster mother {relative}. "
        "Ht crossing centiles downward. {lab}.\nQuery {eponym}; coeliac serology + TFTs sent.\n"
        "Social worker {name_plain_2} informed re: appt. {doctor_full} MRCPCH",
    ],
    "occupational_health_report": [
        "OCCUPATIONAL HEALTH REPORT - CONFIDENTIAL\nEmployee: {name}   Staff no: {account}\n"
        "Referred by: {name_plain_2} (line manager)\nAssessed {date}. Lumbar strain after manual handling "
        "incident, on {drug} {dose}.\nFit for modified duties - no lifting >10kg for 4/52.\n"
        "Review {date2}.\n{doctor_full}, AFOEM, Occupational Physician",
        "Pre-placement health assessment\nName: {name_caps}\nRole: HCA, ward 5B\nHep B sAb: {lab}. "
        "TB screen neg.\nCleared to start. Booster advised.\nOH nurse: {nurse_first}   "
        "Email results to HR ({email}); cc {doctor}",
        "Return to work interview - {name_lf}\nOff sick 6/52 post {eponym} flare. Now well on {drug}. "
        "Manager {name_plain_2} agreeable to phased RTW (50% wk1-2).\n'I just want to get back to normal' "
        "per {name}.\nNo further OH input needed unless relapse. - Dr {doctor}",
    ],
    "sexual_health_clinic": [
        "GUM CLINIC - attendance {date}\nClinic no: {mrn} (pt declines GP letter)\n{name} attended for "
        "screen, new partner x2/12. Asymptomatic.\nSamples: NAAT CT/GC, HIV/syph bloods.\n"
        "Seen by HA {nurse_first}; results by SMS to {phone}.\nDr {doctor} to review any reactive results.",
        "Sexual health - PN (partner notification)\nIndex: {name_lf}, chlamydia +ve\n"
        "Tx: {drug} {dose} given in clinic.\nContacts: 1 regular ({relative}) - index to inform, "
        "provider referral offered.\nTOC not required. Health adviser: {name_plain_2}\nDiscussed with "
        "{doctor_full} (GUM cons).",
        "PrEP review\n{name_caps_lf}\nAdherence good, daily dosing. {lab}. {lab2}.\nSTI screen neg.\n"
        "Rx 3/12 {drug}. Next visit {date2}.\nBooked via {url} - pt prefers email {email}.\n"
        "{nurse_first} RN / {doctor}",
    ],
    "speech_language_therapy": [
        "SPEECH AND LANGUAGE THERAPY - swallow assessment\nPt: {name}  Ward 9  MRN {mrn}\n"
        "Referred by {doctor_full} post L MCA stroke.\nBedside: wet voice on 5ml water, delayed swallow.\n"
        "Rec: NBM except mouth care, NG for meds ({drug}), VFS booked {date}.\n{name_plain_2}, SLT",
        "SLT outpatient - voice clinic\n{name_lf} ({age}) teacher, hoarse x4/12. ENT scope by "
        "Mr {doctor}: bilat vocal fold nodules.\nVoice hygiene + 6 sessions therapy. Partner {relative} "
        "reports she 'shouts over the class all day'.\nTherapist: {name_plain_2}",
        "Communication passport update\n{name_caps}: aphasia, understands short sentences, uses yes/no "
        "board.\nHusband {relative} is best interpreter of gestures.\n{relative}'s number {phone}.\n"
        "Shared with ward RN {nurse_first} and OT. - SLT team",
    ],
    "optometry_exam": [
        "OPTOMETRY EXAMINATION\nPatient: {name}   DOB: {date}\nReason: blurred distance vision, "
        "driver (licence {licence}).\nVA R 6/12 L 6/9 unaided; 6/6 both c Rx.\nIOP 24/26, discs C/D 0.6.\n"
        "Referred HES glaucoma clinic (Mr {doctor}). Copy to GP {doctor_full}.",
        "Domiciliary eye test - care home\n{name_caps_lf}, aged {old_age}\nPresent: carer {nurse_first}, "
        "niece {relative} by phone.\nDense cataract R, L IOL. VA HM/6/18.\nNew readers dispensed. "
        "Optom: {name_plain_2} MCOptom",
        "Diabetic eye screening result\n{name_lf} | NHS no {mrn} | {date}\nGrade R1 M0 both eyes. "
        "{lab}.\nRecall 12/12.\nGrader: {name_plain_2}  Clinical lead: {doctor}\nLetter to {street}, {city}.",
    ],
    "pharmacy_intervention_log": [
        "PHARMACY INTERVENTION - ward 12\n{date} | {name} | MRN {mrn}\nIssue: {drug} {dose} charted "
        "with {drug2} - QT risk. {lab}.\nAction: contacted Dr {doctor}, {drug2} withheld, ECG requested.\n"
        "Outcome: accepted.\nPharmacist: {name_plain_2} (MPSI)",
        "Clinical pharmacist note\n{name_caps_lf}\nTDM: vanc trough {lab}. Dose adjusted per protocol.\n"
        "Discussed with FY1 {doctor_full} and nurse-in-charge {nurse_first}.\nRepeat level {date2} pre 4th dose.",
        "Community pharmacy - near miss log\nPt {name_lf} collected by son {relative}. Wrong strength "
        "{drug} picked, caught at final check by {nurse_first} (dispenser).\nNo harm. GP surgery "
        "(Dr {doctor}) informed on {phone}. Ref {account}, insurer {plan}.",
    ],
    "transfusion_reaction_report": [
        "SUSPECTED TRANSFUSION REACTION\nPt: {name_caps}   MRN {mrn}\nUnit no: {device}  RBC, "
        "started {date} 14:10\nAt 20 min: rigors, {vital}.\nTransfusion stopped, line kept open. "
        "Bag returned to lab.\nReported by {nurse_first} RN; reviewed by Dr {doctor}. Haem reg "
        "{doctor_full} notified.",
        "Haemovigilance follow up\n{name_lf} - FNHTR, resolved with {drug}.\nDAT neg, {lab}, {lab2}.\n"
        "Future: premedicate, consider washed products.\nDaughter {relative} informed at pt's request.\n"
        "Entered SHOT/SABRE by {name_plain_2}, TP.",
        "Blood bank phone log {date}\nCaller {nurse_first} (ward 4) re {name}: hives after 2nd unit "
        "plt.\nAdvised stop, {drug2} {dose} IV, obs q15min.\nConsultant haematologist {doctor_full} "
        "aware. Callback {phone}.",
    ],
    "telehealth_video_consult": [
        "TELEHEALTH CONSULT (video) {date}\nPt {name} joined from home, ID confirmed (DOB + address "
        "{street}, {city}; Medicare {plan}).\nAlso present: wife {relative}.\nReviewed home BP diary, {vital}. {lab}.\n"
        "Plan: uptitrate {drug} to {dose}. eRx sent.\n{doctor_full} FRACGP",
        "Virtual clinic - diabetes\n{name_caps_lf}   MRN {mrn}\nLink: {url}  (pt IP logged {ip})\n"
        "Dropped out x2, completed by phone {phone}.\nCGM {device} data uploaded: TIR 58%.\n"
        "Plan reviewed w/ DSN {nurse_first} & Dr {doctor}.",
        "Video review - community mental health\n{name_lf} seen via Teams, camera off initially.\n"
        "'{relative} thinks I should be back in hospital' - pt declines.\nNo acute risk. "
        "Care coord {name_plain_2} to visit {date2}.\nPsychiatrist: Dr {doctor}",
    ],
}

# Written by a helper that never read the rules, and measured once untouched (all ten styles, 2026-12-05: names 0.897
# (0.846-0.945)). Then split by style (never by note), drawn at random (random.Random(29).sample(sorted(ROUND_4_STYLES),
# 5)): the rules may be tuned on the misses of ROUND_4_TUNING only; ROUND_4_HELD_OUT is measured, its misses never read.
ROUND_4_HELD_OUT = (
    "occupational_health_report",
    "paediatric_well_child_check",
    "pharmacy_intervention_log",
    "sexual_health_clinic",
    "telehealth_video_consult",
)
ROUND_4_TUNING = tuple(style for style in ROUND_4_STYLES if style not in ROUND_4_HELD_OUT)
