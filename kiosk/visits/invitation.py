"""The invitation mail to a remote appointment, with its calendar file.

German always comes first; when the client chose another language, the same
text follows in it. The calendar file is built with ``icalendar`` (RFC 5545:
escaping, line folding and time zones done right).
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import icalendar

from kiosk.mail import MailConfig, message
from kiosk.room.state import Appointment

#: language -> (subject, body, the phone line); placeholders: date, time, minutes, link,
#: optout, phone, agency.
TEXTS: dict[str, tuple[str, str, str]] = {
    "de": (
        "Ihr Termin zur Videoberatung am {date} um {time} Uhr",
        "Guten Tag,\n\nIhr Termin zur Videoberatung bei {agency} ist am {date} um {time} Uhr "
        "({minutes} Minuten).\n\nIhr persönlicher Link:\n{link}\n\nDer Link öffnet sich "
        "15 Minuten vor Beginn. Bitte geben Sie ihn nicht weiter.\n\nSie brauchen ein "
        "Smartphone, Tablet oder einen Computer mit Kamera und Mikrofon und einen aktuellen "
        "Browser (zum Beispiel Firefox, Chrome, Edge oder Safari). Sie müssen nichts "
        "installieren. Das Gespräch wird nicht aufgezeichnet.\n\nSie möchten lieber "
        "telefonisch oder persönlich sprechen? Das geht immer, sagen Sie es uns hier:\n"
        "{optout}\n{phone_line}\nMit der angehängten Datei können Sie den Termin in Ihren "
        "Kalender übernehmen.\n\nMit freundlichen Grüßen\n{agency}\n",
        "Fragen? Rufen Sie uns an: {phone}\n"),
    "de-simple": (
        "Ihr Video-Termin am {date} um {time} Uhr",
        "Guten Tag,\n\nSie haben einen Termin bei {agency}.\nDer Termin ist per Video.\n"
        "Wann: am {date} um {time} Uhr.\nDauer: {minutes} Minuten.\n\nKlicken Sie auf "
        "diesen Link:\n{link}\n\nDer Link geht 15 Minuten vor dem Termin.\nGeben Sie den "
        "Link nicht weiter.\n\nSie brauchen: ein Handy, ein Tablet oder einen Computer.\n"
        "Mit Kamera und Mikrofon.\nSie müssen nichts installieren.\nNiemand nimmt das "
        "Gespräch auf.\n\nSie möchten lieber telefonieren?\nOder lieber zu uns kommen?\n"
        "Das geht. Klicken Sie hier:\n{optout}\n{phone_line}\nViele Grüße\n{agency}\n",
        "Fragen? Rufen Sie an: {phone}\n"),
    "en": (
        "Your video counselling appointment on {date} at {time}",
        "Hello,\n\nYour video counselling appointment with {agency} is on {date} at {time} "
        "({minutes} minutes).\n\nYour personal link:\n{link}\n\nThe link opens 15 minutes "
        "before the start. Please do not pass it on.\n\nYou need a smartphone, tablet or "
        "computer with a camera and a microphone and a current browser (for example Firefox, "
        "Chrome, Edge or Safari). There is nothing to install. The conversation is not "
        "recorded.\n\nWould you rather talk by phone or in person? That is always possible; "
        "tell us here:\n{optout}\n{phone_line}\nThe attached file adds the appointment to "
        "your calendar.\n\nKind regards\n{agency}\n",
        "Questions? Call us: {phone}\n"),
    "ar": (
        "موعد الاستشارة بالفيديو في {date} الساعة {time}",
        "مرحباً،\n\nموعد استشارتك بالفيديو لدى {agency} في {date} الساعة {time} "
        "({minutes} دقيقة).\n\nرابطك الشخصي:\n{link}\n\nيفتح الرابط قبل الموعد بخمس عشرة "
        "دقيقة. يرجى عدم إعطائه لأحد.\n\nتحتاج إلى هاتف ذكي أو جهاز لوحي أو حاسوب مع كاميرا "
        "وميكروفون ومتصفح حديث. لا حاجة لتثبيت أي برنامج. لا يتم تسجيل المحادثة.\n\nهل "
        "تفضل الحديث عبر الهاتف أو حضورياً؟ هذا ممكن دائماً، أخبرنا هنا:\n{optout}\n"
        "{phone_line}\nيمكنك إضافة الموعد إلى تقويمك بالملف المرفق.\n\nمع أطيب التحيات\n"
        "{agency}\n",
        "أسئلة؟ اتصل بنا: {phone}\n"),
    "tr": (
        "{date} tarihinde saat {time} görüntülü danışma randevunuz",
        "Merhaba,\n\n{agency} ile görüntülü danışma randevunuz {date} tarihinde saat {time} "
        "({minutes} dakika).\n\nKişisel bağlantınız:\n{link}\n\nBağlantı randevudan 15 dakika "
        "önce açılır. Lütfen başkasına vermeyin.\n\nKameralı ve mikrofonlu bir akıllı "
        "telefon, tablet veya bilgisayar ve güncel bir tarayıcı gerekir. Hiçbir şey kurmanız "
        "gerekmez. Görüşme kaydedilmez.\n\nTelefonda veya yüz yüze görüşmeyi mi tercih "
        "edersiniz? Bu her zaman mümkün, bize buradan bildirin:\n{optout}\n{phone_line}\n"
        "Ekteki dosya ile randevuyu takviminize ekleyebilirsiniz.\n\nSaygılarımızla\n"
        "{agency}\n",
        "Sorularınız mı var? Bizi arayın: {phone}\n"),
    "uk": (
        "Ваша відеоконсультація {date} о {time}",
        "Добрий день,\n\nВаша відеоконсультація в {agency} відбудеться {date} о {time} "
        "({minutes} хвилин).\n\nВаше особисте посилання:\n{link}\n\nПосилання відкривається "
        "за 15 хвилин до початку. Будь ласка, не передавайте його іншим.\n\nВам потрібен "
        "смартфон, планшет або комп'ютер з камерою й мікрофоном та сучасний браузер. Нічого "
        "встановлювати не потрібно. Розмова не записується.\n\nБажаєте поговорити телефоном "
        "або особисто? Це завжди можливо, повідомте нас тут:\n{optout}\n{phone_line}\n"
        "Доданий файл додасть зустріч до вашого календаря.\n\nЗ повагою\n{agency}\n",
        "Запитання? Зателефонуйте нам: {phone}\n"),
    "ru": (
        "Ваша видеоконсультация {date} в {time}",
        "Здравствуйте,\n\nВаша видеоконсультация в {agency} состоится {date} в {time} "
        "({minutes} минут).\n\nВаша личная ссылка:\n{link}\n\nСсылка открывается за 15 "
        "минут до начала. Пожалуйста, не передавайте её другим.\n\nВам нужен смартфон, "
        "планшет или компьютер с камерой и микрофоном и современный браузер. Ничего "
        "устанавливать не нужно. Разговор не записывается.\n\nХотите поговорить по телефону "
        "или лично? Это всегда возможно, сообщите нам здесь:\n{optout}\n{phone_line}\n"
        "Приложенный файл добавит встречу в ваш календарь.\n\nС уважением\n{agency}\n",
        "Вопросы? Позвоните нам: {phone}\n"),
}
RULE = "\n" + "—" * 40 + "\n\n"


def local(iso: str) -> dt.datetime:
    """A stored UTC time in the room PC's own time zone."""
    return dt.datetime.fromisoformat(iso).astimezone()


def render(language: str, appointment: Appointment, *, link: str, optout: str, agency: str,
           phone: str = "") -> tuple[str, str]:
    """(subject, body) of the invitation in ``language`` (German for an unknown one)."""
    subject, body, phone_line = TEXTS.get(language, TEXTS["de"])
    start = local(appointment.starts_at)
    values = {"date": f"{start:%d.%m.%Y}", "time": f"{start:%H:%M}",
              "minutes": appointment.minutes, "link": link, "optout": optout,
              "agency": agency, "phone": phone}
    values["phone_line"] = phone_line.format(**values) if phone else ""
    return subject.format(**values), body.format(**values)


def calendar(appointment: Appointment, *, link: str, agency: str, room_id: str) -> bytes:
    """The appointment as an iCalendar file (one event, with a reminder)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//kiosk//Videoberatung//DE")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"termin-{appointment.id}-{room_id}@kiosk.invalid")
    event.add("dtstamp", dt.datetime.now(dt.UTC).replace(microsecond=0))
    event.add("dtstart", dt.datetime.fromisoformat(appointment.starts_at))
    event.add("dtend", dt.datetime.fromisoformat(appointment.ends_at))
    event.add("summary", f"Videoberatung: {agency}")
    event.add("description", f"Ihr persönlicher Link: {link}\nDer Link öffnet sich "
                             "15 Minuten vor Beginn.")
    event.add("location", link)
    event.add("url", link)
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Videoberatung: {agency}")
    alarm.add("trigger", dt.timedelta(minutes=-15))
    event.add_component(alarm)
    cal.add_component(event)
    return cal.to_ical()


def invitation(config: MailConfig, to: str, appointment: Appointment, *, link: str,
               optout: str, agency: str, room_id: str, phone: str = "") -> EmailMessage:
    """The whole mail: German, then the client's language if another, and the .ics."""
    subject, body = render("de", appointment, link=link, optout=optout, agency=agency,
                           phone=phone)
    if appointment.language != "de" and appointment.language in TEXTS:
        own_subject, own_body = render(appointment.language, appointment, link=link,
                                       optout=optout, agency=agency, phone=phone)
        subject = f"{subject} / {own_subject}"
        body = body + RULE + own_body
    ics = calendar(appointment, link=link, agency=agency, room_id=room_id)
    return message(config, to, subject, body,
                   attachments=[("termin.ics", ics, "text/calendar")])
